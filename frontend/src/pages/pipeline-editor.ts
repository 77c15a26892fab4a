import { consume } from '@lit/context';
import { css, html, LitElement, nothing, type PropertyValues } from 'lit';
import { customElement, property, query, state } from 'lit/decorators.js';
import { LGraph, LGraphCanvas, type LGraphNode, LiteGraph } from 'litegraph.js/build/litegraph.core.js';
import { type Api, ApiError } from '../api.js';
import { apiContext, type Session, sessionContext } from '../context.js';
import {
  type Extension,
  type ExtensionTree,
  extensionTreeContext,
  renderExtension,
  TreeSubscription,
} from '../extensions/extension-tree.js';
import { shared } from '../theme.js';
import { clearNodeHost, type NodeHost, registerComponentType, setNodeHost } from './litegraph-types.js';
import { paramField } from './param-form.js';
import {
  type CatalogEntry,
  diffGraphs,
  freshId,
  type Graph,
  type GraphNode,
  layoutGraph,
  validateGraph,
} from './pipeline-graph.js';

interface VersionSummary {
  version: number;
  comment: string | null;
  createdAt: string;
  plugins: Record<string, string>;
}

/** The drag data of a component dragged from the palette: its type. */
const PALETTE_TYPE = 'application/x-nullops-component';

/** LiteGraph's selection, which its bundled type declarations leave out. */
interface Selecting {
  selected_nodes: Record<string, LGraphNode>;
  selectNode(node: LGraphNode): void;
}

/**
 * The pipeline editor (admins): a LiteGraph canvas of the project's pipeline, a palette of the
 * installed plugins' components, node params as widgets and as an accessible form, connect and
 * remove, validation before save, and the version history with read-only old versions.
 * Loaded only when opened: LiteGraph is most of its weight.
 */
@customElement('nullops-pipeline-editor')
export class PipelineEditor extends LitElement implements NodeHost {
  static override styles = [
    shared,
    css`
      :host {
        display: grid;
        gap: 1rem;
      }
      .layout {
        display: grid;
        gap: 1rem;
        grid-template-columns: minmax(260px, 320px) 1fr;
      }
      @media (max-width: 800px) {
        .layout {
          grid-template-columns: 1fr;
        }
      }
      canvas {
        width: 100%;
        height: 480px;
        display: block;
        border-radius: var(--radius);
      }
      .palette button {
        margin: 0 0.3rem 0.3rem 0;
      }
      label {
        display: grid;
        gap: 0.2rem;
        margin-bottom: 0.5rem;
      }
      textarea {
        font: inherit;
        min-height: 4rem;
      }
      ul {
        padding-left: 1.2rem;
      }
      .diff {
        font-family: ui-monospace, monospace;
        list-style: none;
        padding-left: 0;
      }
      .diff .added {
        color: var(--ok);
      }
      .diff .removed {
        color: var(--bad);
      }
    `,
  ];

  @property() projectId = '';
  /** A version to show read-only; the latest (editable) when unset. */
  @property({ type: Number }) version: number | undefined;
  @consume({ context: apiContext }) private api!: Api;
  @consume({ context: extensionTreeContext }) private tree!: ExtensionTree;
  @consume({ context: sessionContext, subscribe: true }) private session?: Session;
  /** The project's services: what a service node may run. */
  @state() private services: string[] = [];
  /** Plugin widget elements already listening for their `params-change`. */
  private readonly widgetElements = new WeakSet<HTMLElement>();
  @state() private graph: Graph = { nodes: [], edges: [] };
  @state() private catalog: CatalogEntry[] = [];
  @state() private versions: VersionSummary[] = [];
  @state() private selected = '';
  @state() private error = '';
  @state() private saved = '';
  @state() private connectFrom = '';
  @state() private connectTo = '';
  /** Two versions compared, and what changed from the first to the second. */
  @state() private comparing: { from: number; to: number; lines: string[] } | undefined;
  @query('canvas') private canvas?: HTMLCanvasElement;
  private lgraph = new LGraph();
  private lcanvas: LGraphCanvas | undefined;
  private readonly lnodes = new Map<string, LGraphNode>();
  /** A graph just loaded or laid out is fitted into view once it is drawn. */
  private fitPending = false;

  /** Old versions are read-only, and so is every version for all but administrators. */
  private get readOnly() {
    return this.version !== undefined || !this.session?.access.admin;
  }

  protected override willUpdate(changed: PropertyValues<this>): void {
    if (changed.has('projectId') || changed.has('version')) void this.load();
  }

  override connectedCallback(): void {
    super.connectedCallback();
    setNodeHost(this);
    document.addEventListener('pointerup', this.pointerUp);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    clearNodeHost(this);
    document.removeEventListener('pointerup', this.pointerUp);
    this.resizes?.disconnect();
  }

  // biome-ignore lint/correctness/noUnusedPrivateClassMembers: a controller serves its host by existing
  private readonly treeUpdates = new TreeSubscription(this, () => this.tree);
  /**
   * A drag on the canvas (a node moved, a link drawn between slots) ends with a pointerup, wherever
   * it is let go; LiteGraph cancels the pointer events, so no mouseup follows them.
   */
  private readonly pointerUp = (e: PointerEvent) => {
    // Seen from the document, the target is this element (the canvas is in its shadow root).
    const onCanvas = this.canvas ? e.composedPath().includes(this.canvas) : false;
    setTimeout(() => {
      this.readCanvas();
      // A node clicked (or dragged) on the canvas is the one the side form edits.
      if (onCanvas) this.selectFromCanvas();
    }, 0);
  };
  private resizes: ResizeObserver | undefined;

  private async load() {
    try {
      const catalog = (await this.api.get<{ items: CatalogEntry[] }>('/api/plugins/components')).items;
      const services = (
        await this.api.get<{ services: { name: string }[] }>(`/api/projects/${this.projectId}`)
      ).services.map((x) => x.name);
      const base = `/api/projects/${this.projectId}/pipeline`;
      const versions = (await this.api.get<{ items: VersionSummary[] }>(`${base}/versions`)).items;
      const path = this.version ? `${base}/versions/${this.version}` : base;
      const graph = await this.api
        .get<{ graph: Graph }>(path)
        .then((v) => v.graph)
        .catch((err) => {
          if (err instanceof ApiError && err.status === 404 && !this.version) return { nodes: [], edges: [] };
          throw err;
        });
      // All at once: the palette appears with the graph, so nothing added before the graph came
      // can be overwritten by it (a node added in between was lost, under load).
      for (const entry of catalog) registerComponentType(entry);
      this.catalog = catalog;
      this.services = services;
      this.versions = versions;
      this.graph = graph;
      this.fitPending = true;
      this.error = '';
    } catch (err) {
      this.error = (err as Error).message;
    }
  }

  /** Node widgets of the extension tree for one component type (side form and canvas). */
  nodeWidgets(type: string): Extension[] {
    return this.tree.children('page:pipeline-editor', 'nodeWidgets').filter((e) => e.config.type === type);
  }

  paramsOf(nodeId: string): Record<string, unknown> {
    return this.graph.nodes.find((n) => n.id === nodeId)?.params ?? {};
  }

  protected override updated(): void {
    if (this.canvas && !this.lcanvas) {
      this.lcanvas = new LGraphCanvas(this.canvas, this.lgraph, { autoresize: false });
      // LiteGraph draws a debug overlay (fps, node counts) unless told not to.
      this.lcanvas.show_info = false;
      // The canvas keeps as many pixels as it shows (a layout change would otherwise stretch it,
      // and every click would land off its mark).
      // On a high-density screen the buffer has the screen's pixels: LiteGraph keeps working in CSS
      // pixels (the mouse's), and only its drawing is scaled up by the pixel ratio.
      const ds = this.lcanvas.ds;
      ds.toCanvasContext = (ctx) => {
        const scale = ds.scale * devicePixelRatio;
        ctx.scale(scale, scale);
        ctx.translate(ds.offset[0], ds.offset[1]);
      };
      this.resizes = new ResizeObserver(() => this.sizeBuffer());
      this.resizes.observe(this.canvas);
      // A component dragged from the palette lands where it is dropped.
      this.canvas.addEventListener('dragover', (e) => {
        if (!this.readOnly && e.dataTransfer?.types.includes(PALETTE_TYPE)) e.preventDefault();
      });
      this.canvas.addEventListener('drop', (e) => {
        const entry = this.catalog.find((c) => c.type === e.dataTransfer?.getData(PALETTE_TYPE));
        if (!entry || this.readOnly || !this.lcanvas) return;
        e.preventDefault();
        const [x, y] = this.lcanvas.convertEventToCanvasOffset(e);
        this.add(entry, [Math.round(x), Math.round(y)]);
      });
    }
    if (this.lcanvas) {
      this.lcanvas.read_only = this.readOnly;
      this.renderCanvas();
      if (this.fitPending) {
        this.fitPending = false;
        this.fit();
      }
    }
  }

  /** The drawing buffer has as many pixels as the canvas covers on screen. */
  private sizeBuffer() {
    const canvas = this.canvas as HTMLCanvasElement;
    const ratio = devicePixelRatio;
    this.lcanvas?.resize(
      Math.round((canvas.clientWidth || 800) * ratio),
      Math.round((canvas.clientHeight || 480) * ratio),
    );
  }

  /** Zooms and pans so that every node is in view (never zoomed in beyond 1:1). */
  private fit() {
    const canvas = this.canvas;
    const ds = this.lcanvas?.ds;
    const nodes = [...this.lnodes.values()];
    if (!canvas || !ds || !nodes.length) return;
    const title = LiteGraph.NODE_TITLE_HEIGHT;
    const left = Math.min(...nodes.map((n) => n.pos[0]));
    const top = Math.min(...nodes.map((n) => n.pos[1] - title));
    const width = Math.max(...nodes.map((n) => n.pos[0] + n.size[0])) - left;
    const height = Math.max(...nodes.map((n) => n.pos[1] + n.size[1])) - top;
    const margin = 24;
    const [shownWidth, shownHeight] = [canvas.clientWidth || 800, canvas.clientHeight || 480];
    const scale = Math.max(
      0.2,
      Math.min(1, (shownWidth - 2 * margin) / width, (shownHeight - 2 * margin) / height),
    );
    ds.scale = scale;
    ds.offset = [(shownWidth / scale - width) / 2 - left, (shownHeight / scale - height) / 2 - top];
    this.lcanvas?.setDirty(true, true);
  }

  /** Lays the graph out in layers, in the order it runs, and fits it into view. */
  private autoLayout() {
    const title = LiteGraph.NODE_TITLE_HEIGHT;
    const positions = layoutGraph(this.graph, (id) => {
      const size = this.lnodes.get(id)?.size ?? [200, 100];
      return [size[0], size[1] + title];
    });
    this.graph = {
      ...this.graph,
      nodes: this.graph.nodes.map((n) => {
        const at = positions.get(n.id);
        // dagre's box includes the title bar, which LiteGraph draws above a node's position.
        return at ? { ...n, position: [at[0], at[1] + title] as [number, number] } : n;
      }),
    };
    this.fitPending = true;
    this.saved = '';
  }

  /** Draws the state onto the canvas (state is the source of truth). */
  private renderCanvas() {
    this.sizeBuffer();
    this.lgraph.clear();
    this.lnodes.clear();
    this.graph.nodes.forEach((node, i) => {
      if (!LiteGraph.registered_node_types[node.type]) return;
      const l = LiteGraph.createNode(node.type);
      l.title = node.id;
      l.properties.nodeId = node.id;
      l.pos = node.position ?? [40 + (i % 3) * 310, 40 + Math.floor(i / 3) * 160];
      const incoming = this.graph.edges.filter((e) => e.to === node.id).length;
      for (let k = 1; k <= incoming; k++) l.addInput('after', 'step');
      for (const w of l.widgets ?? []) if (node.params[w.name] !== undefined) w.value = node.params[w.name];
      // Wide enough that the longest param name and its value do not overlap
      // (`healthTimeoutSeconds`): about 7 px per character of name, plus room for the value.
      const size = l.computeSize();
      const longest = Math.max(
        0,
        // Canvas widgets of plugins draw no label: their (long) extension ids take no room.
        ...(l.widgets ?? []).filter((w) => w.type !== 'nullops-canvas').map((w) => String(w.name).length),
      );
      l.size = [Math.max(size[0], 110 + longest * 7), size[1]];
      this.lgraph.add(l);
      this.lnodes.set(node.id, l);
    });
    const used = new Map<string, number>();
    for (const e of this.graph.edges) {
      const from = this.lnodes.get(e.from);
      const to = this.lnodes.get(e.to);
      if (!from || !to) continue;
      const slot = used.get(e.to) ?? 0;
      used.set(e.to, slot + 1);
      from.connect(0, to, slot);
    }
    // The node the side form edits is the one selected on the canvas too. The nodes are new: a
    // selection of the old ones (LiteGraph keeps it by id, and ids start again) would count twice.
    const canvas = this.lcanvas as Selecting | undefined;
    if (canvas) canvas.selected_nodes = {};
    const selected = this.lnodes.get(this.selected);
    if (selected) canvas?.selectNode(selected);
    this.lcanvas?.setDirty(true, true);
  }

  private selectFromCanvas(): void {
    const picked = Object.values((this.lcanvas as Selecting | undefined)?.selected_nodes ?? {});
    const id = picked.length === 1 ? String(picked[0]?.properties.nodeId ?? '') : '';
    if (id && id !== this.selected) this.selected = id;
  }

  /** Takes edges drawn and nodes moved on the canvas back into the state. */
  private readCanvas() {
    if (this.readOnly) return;
    const idOf = (lid: number) => String(this.lgraph.getNodeById(lid)?.properties.nodeId ?? '');
    const edges = Object.values(this.lgraph.links ?? {})
      .filter(Boolean)
      .map((l) => ({ from: idOf(l.origin_id), to: idOf(l.target_id) }))
      .filter((e) => e.from && e.to);
    const nodes = this.graph.nodes.map((n) => {
      const l = this.lnodes.get(n.id);
      return l ? { ...n, position: [Math.round(l.pos[0]), Math.round(l.pos[1])] as [number, number] } : n;
    });
    const key = (g: { from: string; to: string }[]) =>
      g
        .map((e) => `${e.from}>${e.to}`)
        .sort()
        .join();
    if (key(edges) !== key(this.graph.edges) || JSON.stringify(nodes) !== JSON.stringify(this.graph.nodes))
      this.graph = { nodes, edges };
  }

  setParam(nodeId: string, key: string, value: unknown) {
    this.graph = {
      ...this.graph,
      nodes: this.graph.nodes.map((n) => {
        if (n.id !== nodeId) return n;
        const params = { ...n.params };
        if (value === '' || value === undefined) delete params[key];
        else params[key] = value;
        return { ...n, params };
      }),
    };
  }

  private add(entry: CatalogEntry, position?: [number, number]) {
    const id = freshId(this.graph, entry.type);
    const node: GraphNode = { id, type: entry.type, params: {}, ...(position ? { position } : {}) };
    this.graph = { ...this.graph, nodes: [...this.graph.nodes, node] };
    this.selected = id;
    this.saved = '';
  }

  private removeNode(id: string) {
    this.graph = {
      nodes: this.graph.nodes.filter((n) => n.id !== id),
      edges: this.graph.edges.filter((e) => e.from !== id && e.to !== id),
    };
    if (this.selected === id) this.selected = '';
  }

  private rename(from: string, to: string) {
    if (!to || from === to) return;
    this.graph = {
      nodes: this.graph.nodes.map((n) => (n.id === from ? { ...n, id: to } : n)),
      edges: this.graph.edges.map((e) => ({
        from: e.from === from ? to : e.from,
        to: e.to === from ? to : e.to,
      })),
    };
    this.selected = to;
  }

  private connect() {
    const { connectFrom: from, connectTo: to } = this;
    if (!from || !to || from === to || this.graph.edges.some((e) => e.from === from && e.to === to)) return;
    this.graph = { ...this.graph, edges: [...this.graph.edges, { from, to }] };
  }

  private async save() {
    const problems = validateGraph(this.graph, this.catalog);
    if (problems.length) {
      this.error = `Fix these first: ${problems.join('; ')}`;
      return;
    }
    try {
      const input = this.renderRoot.querySelector('input[name="comment"]') as HTMLInputElement | null;
      const comment = input?.value;
      const saved = await this.api.post<VersionSummary>(`/api/projects/${this.projectId}/pipeline/versions`, {
        graph: this.graph,
        ...(comment ? { comment } : {}),
      });
      if (input) input.value = '';
      this.saved = `Saved as version ${saved.version}`;
      this.error = '';
      await this.load();
    } catch (err) {
      this.error = (err as Error).message;
    }
  }

  /** An old version becomes the new latest (a new version with its graph); the editor opens it. */
  private async restore() {
    const from = this.version;
    try {
      // The version as it was saved (not the canvas, which may still be loading it).
      const { graph } = await this.api.get<{ graph: Graph }>(
        `/api/projects/${this.projectId}/pipeline/versions/${from}`,
      );
      const saved = await this.api.post<VersionSummary>(`/api/projects/${this.projectId}/pipeline/versions`, {
        graph,
        comment: `Restored from v${from}`,
      });
      history.pushState(null, '', `/projects/${this.projectId}/pipeline`);
      window.dispatchEvent(new PopStateEvent('popstate'));
      this.saved = `Restored v${from} as version ${saved.version}`;
    } catch (err) {
      this.error = (err as Error).message;
    }
  }

  private async compare(form: HTMLFormElement) {
    const data = new FormData(form);
    const [from, to] = [Number(data.get('from')), Number(data.get('to'))];
    const graphOf = async (v: number) =>
      (await this.api.get<{ graph: Graph }>(`/api/projects/${this.projectId}/pipeline/versions/${v}`)).graph;
    try {
      const [a, b] = await Promise.all([graphOf(from), graphOf(to)]);
      this.comparing = { from, to, lines: diffGraphs(a, b) };
    } catch (err) {
      this.error = (err as Error).message;
    }
  }

  private renderHistory() {
    const [latest, previous] = this.versions;
    const options = (selected: number | undefined) =>
      this.versions.map(
        (v) => html`<option value=${v.version} ?selected=${v.version === selected}>v${v.version}</option>`,
      );
    const diff = this.comparing;
    return html`<section class="panel" aria-label="Version history">
      <h2>History</h2>
      ${
        this.versions.length > 1
          ? html`<form class="row" aria-label="Compare versions" @submit=${(e: Event) => {
              e.preventDefault();
              void this.compare(e.target as HTMLFormElement);
            }}>
              <label class="row">Compare <select name="from" aria-label="Compare from">${options(previous?.version)}</select></label>
              <label class="row">with <select name="to" aria-label="Compare with">${options(latest?.version)}</select></label>
              <button type="submit">Compare</button>
            </form>`
          : nothing
      }
      ${
        diff
          ? html`<div aria-label="Changes from v${diff.from} to v${diff.to}" role="region">
              <h3>v${diff.from} → v${diff.to}</h3>
              ${diff.lines.length ? html`<ul class="diff">${diff.lines.map((l) => html`<li class=${l[0] === '+' ? 'added' : l[0] === '-' ? 'removed' : 'changed'}>${l}</li>`)}</ul>` : html`<p class="muted">No changes.</p>`}
            </div>`
          : nothing
      }
      <table>
        <thead><tr><th>Version</th><th>Saved</th><th>Comment</th><th>Plugins</th></tr></thead>
        <tbody>${this.versions.map(
          (v) =>
            html`<tr data-version=${v.version}><td><a href="/projects/${this.projectId}/pipeline?version=${v.version}">v${v.version}</a></td><td>${new Date(v.createdAt).toLocaleString()}</td><td>${v.comment ?? ''}</td><td class="muted">${Object.entries(
              v.plugins,
            )
              .map(([n, ver]) => `${n}@${ver}`)
              .join(', ')}</td></tr>`,
        )}</tbody>
      </table>
    </section>`;
  }

  /** The plugin's own editor for this node type, if its UI contributed one. */
  private pluginWidget(node: GraphNode) {
    const widget = this.nodeWidgets(node.type).find((w) => w.factory);
    if (!widget) return nothing;
    const made = renderExtension(widget, {
      api: this.api,
      session: this.session,
      data: { nodeId: node.id, readOnly: this.readOnly, params: node.params },
    });
    // A widget that failed says so where it would be; the side form below still edits the node.
    if (!(made instanceof HTMLElement))
      return html`<div class="panel" data-widget=${widget.plugin ?? 'core'}>${made}</div>`;
    const el = made;
    if (!this.widgetElements.has(el)) {
      this.widgetElements.add(el);
      el.addEventListener('params-change', (e) => {
        const params = (e as CustomEvent<Record<string, unknown>>).detail;
        this.graph = {
          ...this.graph,
          nodes: this.graph.nodes.map((n) =>
            n.id === el?.dataset.node ? { ...n, params: { ...n.params, ...params } } : n,
          ),
        };
      });
    }
    el.dataset.node = node.id;
    return html`<div class="panel" data-widget=${widget.plugin ?? 'core'}>${el}</div>`;
  }

  private renderSelected() {
    const node = this.graph.nodes.find((n) => n.id === this.selected);
    if (!node) return html`<p class="muted">Select a node to edit its params.</p>`;
    const entry = this.catalog.find((c) => c.type === node.type);
    const props = entry?.paramsSchema.properties ?? {};
    const required = new Set(entry?.paramsSchema.required ?? []);
    return html`<form aria-label="Node ${node.id}" @submit=${(e: Event) => e.preventDefault()}>
      <label>Node id<input name="node-id" .value=${node.id} ?readonly=${this.readOnly} @change=${(e: Event) => this.rename(node.id, (e.target as HTMLInputElement).value)} /></label>
      <p class="muted">${entry?.title ?? node.type} · outputs: ${Object.keys(entry?.outputs ?? {}).join(', ') || 'none'}</p>
      ${this.pluginWidget(node)}
      ${Object.entries(props)
        .filter(([key]) => !entry?.hostFilled.includes(key))
        .map(([key, schema]) =>
          paramField({
            node,
            key,
            schema,
            required: required.has(key),
            entry,
            services: this.services,
            readOnly: this.readOnly,
            set: (value) => this.setParam(node.id, key, value),
            invalid: (message) => {
              this.error = message;
            },
          }),
        )}
      ${this.readOnly ? nothing : html`<button class="danger" type="button" @click=${() => this.removeNode(node.id)}>Remove node</button>`}
    </form>`;
  }

  override render() {
    const categories = [...new Set(this.catalog.map((c) => c.category))];
    const problems = validateGraph(this.graph, this.catalog);
    return html`
      <div class="row" style="justify-content: space-between">
        <h1 style="margin:0;font-size:1.4rem">Pipeline ${this.readOnly ? html`v${this.version ?? this.versions[0]?.version ?? ''} <span class="muted">(read-only${this.session?.access.admin ? '' : ': only administrators edit pipelines'})</span>` : html`<span class="muted">(editing latest)</span>`}</h1>
        ${
          this.readOnly
            ? this.version !== undefined
              ? html`<div class="row">
                  ${this.session?.access.admin ? html`<button class="primary" @click=${this.restore}>Restore v${this.version} as latest</button>` : nothing}
                  <a href="/projects/${this.projectId}/pipeline">Back to the latest</a>
                </div>`
              : nothing
            : html`<div class="row"><input name="comment" placeholder="What changed?" aria-label="Comment" /><button class="primary" @click=${this.save}>Save</button></div>`
        }
      </div>
      ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : nothing}
      ${this.saved ? html`<p role="status">${this.saved}</p>` : nothing}
      <div class="layout">
        <div class="panel">
          ${
            this.readOnly
              ? nothing
              : html`<h2>Add</h2>
                <div class="palette">
                  ${categories.map(
                    (cat) =>
                      html`<p class="muted">${cat}</p>${this.catalog
                        .filter((c) => c.category === cat)
                        .map(
                          (c) =>
                            html`<button draggable="true" title=${`${c.type} from ${c.plugin.name}@${c.plugin.version} — click to add, or drag onto the canvas`}
                              @dragstart=${(e: DragEvent) => {
                                e.dataTransfer?.setData(PALETTE_TYPE, c.type);
                                if (e.dataTransfer) e.dataTransfer.effectAllowed = 'copy';
                              }}
                              @click=${() => this.add(c)}>${c.title}</button>`,
                        )}`,
                  )}
                </div>`
          }
          <h2>Nodes</h2>
          <ul>${this.graph.nodes.map(
            (n) =>
              html`<li><a href="#" @click=${(e: Event) => {
                e.preventDefault();
                this.selected = n.id;
              }}>${n.id}</a> <span class="muted">${n.type}</span></li>`,
          )}</ul>
          ${
            this.readOnly
              ? nothing
              : html`<h2>Connect</h2>
                <div class="row">
                  <select aria-label="From" @change=${(e: Event) => (this.connectFrom = (e.target as HTMLSelectElement).value)}>
                    <option value="">from…</option>${this.graph.nodes.map((n) => html`<option>${n.id}</option>`)}
                  </select>
                  <select aria-label="To" @change=${(e: Event) => (this.connectTo = (e.target as HTMLSelectElement).value)}>
                    <option value="">to…</option>${this.graph.nodes.map((n) => html`<option>${n.id}</option>`)}
                  </select>
                  <button @click=${this.connect}>Connect</button>
                </div>`
          }
          <ul aria-label="Edges">${this.graph.edges.map(
            (e) =>
              html`<li>${e.from} → ${e.to} ${this.readOnly ? nothing : html`<button aria-label="Disconnect ${e.from} from ${e.to}" @click=${() => (this.graph = { ...this.graph, edges: this.graph.edges.filter((x) => x !== e) })}>×</button>`}</li>`,
          )}</ul>
          ${problems.length ? html`<h2>Problems</h2><ul class="error">${problems.map((p) => html`<li>${p}</li>`)}</ul>` : nothing}
        </div>
        <div class="panel">
          <div class="row">
            ${this.readOnly ? nothing : html`<button @click=${this.autoLayout} title="Lay the nodes out in the order they run">Auto-layout</button>`}
            <button @click=${() => this.fit()} title="Zoom and pan so that every node is in view">Fit</button>
          </div>
          <canvas aria-label="Pipeline graph (drag nodes; drag from an output to an input to connect)"></canvas>
          ${this.renderSelected()}
        </div>
      </div>
      ${this.renderHistory()}
    `;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'nullops-pipeline-editor': PipelineEditor;
  }
}
