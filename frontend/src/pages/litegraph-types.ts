import { type LGraphNode, LiteGraph } from 'litegraph.js/build/litegraph.core.js';
import type { Extension } from '../extensions/extension-tree.js';
import { primitive } from './param-form.js';
import type { CatalogEntry } from './pipeline-graph.js';

/** What a component's LiteGraph node asks of the editor it is drawn in. */
export interface NodeHost {
  setParam(nodeId: string, key: string, value: unknown): void;
  paramsOf(nodeId: string): Record<string, unknown>;
  /** Node widgets of the extension tree for one component type. */
  nodeWidgets(type: string): Extension[];
}

/**
 * The editor on screen. LiteGraph keeps node types for the page's lifetime, so their code asks
 * the editor open now (not the one that registered them) for params and plugin widgets.
 */
let host: NodeHost | undefined;

export function setNodeHost(editor: NodeHost): void {
  host = editor;
}

export function clearNodeHost(editor: NodeHost): void {
  if (host === editor) host = undefined;
}

/** A canvas drawing must never take the editor down: a failing one is drawn as its error. */
function drawSafely(ext: Extension, ctx: CanvasRenderingContext2D, draw: () => void) {
  ctx.save();
  try {
    draw();
  } catch (err) {
    ctx.fillStyle = '#c33';
    ctx.fillText(`${ext.id}: ${(err as Error).message}`.slice(0, 60), 8, 14);
  } finally {
    ctx.restore();
  }
}

/**
 * Registers a component as a LiteGraph node type (once per page): an input and an output for run
 * order, a slot per output, its simple params as widgets, and plugins' canvas widgets.
 */
export function registerComponentType(entry: CatalogEntry): void {
  if (LiteGraph.registered_node_types[entry.type]) return;
  function ComponentNode(this: LGraphNode) {
    this.addInput('after', 'step');
    this.addOutput('then', 'step');
    // The component's outputs as slots: a link from one also means "runs before", and shows
    // what later nodes can reference as ${output:<node>.<key>}.
    for (const key of Object.keys(entry.outputs)) this.addOutput(key, 'step');
    this.properties = { nodeId: '' };
    for (const [key, schema] of Object.entries(entry.paramsSchema.properties ?? {})) {
      const kind = primitive(schema);
      if (kind === 'json' || entry.hostFilled.includes(key)) continue;
      const widget =
        kind === 'boolean' ? 'toggle' : kind === 'enum' ? 'combo' : kind === 'string' ? 'text' : 'number';
      this.addWidget(
        widget,
        key,
        schema.default ?? (kind === 'boolean' ? false : kind === 'string' ? '' : 0),
        (value) => host?.setParam(String(this.properties.nodeId), key, value),
        kind === 'enum' ? { values: schema.enum } : kind === 'integer' ? { precision: 0, step: 10 } : {},
      );
    }
    // Plugins' canvas widgets: drawn inside the node, below its fields, from the node's params.
    for (const ext of host?.nodeWidgets(entry.type) ?? []) {
      const canvas = ext.config.canvas;
      if (!canvas) continue;
      this.addCustomWidget({
        name: ext.id,
        type: 'nullops-canvas',
        value: null,
        computeSize: (width: number) => [width, canvas.height],
        draw: (ctx: CanvasRenderingContext2D, node: LGraphNode, width: number, y: number) => {
          const nodeId = String(node.properties.nodeId ?? '');
          drawSafely(ext, ctx, () => {
            ctx.translate(0, y);
            canvas.draw(ctx, {
              params: host?.paramsOf(nodeId) ?? {},
              width,
              height: canvas.height,
              nodeId,
            });
          });
        },
      });
    }
  }
  (ComponentNode as unknown as { title: string }).title = entry.title;
  LiteGraph.registerNodeType(entry.type, ComponentNode);
}
