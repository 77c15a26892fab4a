import { consume } from '@lit/context';
import { css, html, LitElement, nothing, type TemplateResult } from 'lit';
import { customElement, property, state } from 'lit/decorators.js';
import type { Api } from '../api.js';
import { apiContext } from '../context.js';
import { shared } from '../theme.js';

// biome-ignore lint/suspicious/noExplicitAny: rows of many API resources, rendered generically by column functions
type Row = Record<string, any>;

export interface Field {
  key: string;
  label: string;
  /** `suggest`: free text with its options offered (a value none of them names is allowed). */
  kind: 'text' | 'number' | 'password' | 'url' | 'select' | 'suggest' | 'multi' | 'checkbox';
  required?: boolean;
  placeholder?: string;
  /** Choices of select/suggest/multi fields, loaded when the form opens. */
  options?: (api: Api) => Promise<{ value: string; label: string }[]>;
  /** What a new object's field holds until typed over. */
  initial?: string;
  /** Emptied while editing, it is cleared (sent as null) rather than left as it was. */
  clearable?: boolean;
  /** Set once, when the object is made (a user name): not in the edit form. */
  createOnly?: boolean;
}

/** What an admin page manages: its API collection, create form, table and row actions. */
export interface Resource {
  key: string;
  title: string;
  /** The collection, e.g. /api/registries; rows are deleted at `${path}/${row.id}`. */
  path: string;
  fields: Field[];
  columns: { label: string; value: (row: Row) => unknown }[];
  /** Turns the form's values into the create (or edit) request body. */
  body?: (values: Record<string, unknown>) => unknown;
  /**
   * The values an edit starts from, when the list rows lack some (a project's services and team
   * access come with its detail); list fields edit only resources that have this.
   */
  edit?: (row: Row, api: Api) => Promise<Row>;
  /** A live hint while the form is filled in (the tags a pattern selects), from its text values. */
  preview?: (values: Record<string, string>, api: Api) => Promise<string | undefined>;
  /** A warning about what was just saved (e.g. a budget no node can hold); shown with the notice. */
  warn?: (saved: Row, api: Api) => Promise<string | undefined>;
  /** Above the form: settings of the page's own (e.g. whether password sign-in stays open). */
  intro?: (page: AdminResourcePage) => TemplateResult;
  /** Extra content under a row's actions: e.g. a team's members. */
  rowDetail?: (row: Row, page: AdminResourcePage) => TemplateResult | typeof nothing;
  deletable?: boolean;
  /** Query filters over the table (the API's own query parameters), e.g. the audit log's action. */
  filters?: { key: string; label: string; placeholder?: string; options?: string[] }[];
  /** Rows a page: the collection answers `total` and takes `limit` and `offset`. */
  pageSize?: number;
  rowActions?: (row: Row, page: AdminResourcePage) => TemplateResult | typeof nothing;
  /** Shown after create, e.g. a node's one-time token and the command that installs its agent. */
  afterCreate?: (
    created: Row,
    page: AdminResourcePage,
  ) => string | TemplateResult | undefined | Promise<string | TemplateResult | undefined>;
}

const isTemplate = (value: unknown): value is TemplateResult =>
  typeof value === 'object' && value !== null && '_$litType$' in value;

/** One admin page: a table of a resource, a create form built from field descriptions, row actions. */
@customElement('nullops-admin-resource')
export class AdminResourcePage extends LitElement {
  static override styles = [
    shared,
    css`
      form {
        display: grid;
        gap: 0.6rem;
        grid-template-columns: repeat(auto-fit, minmax(200px, 1fr));
        align-items: end;
        margin-bottom: 1rem;
      }
      label {
        display: grid;
        gap: 0.2rem;
      }
      pre.command {
        overflow-x: auto;
        padding: 0.6rem;
        border-radius: 4px;
        background: var(--nullops-code-bg, rgba(127, 127, 127, 0.12));
        font-size: 0.85rem;
      }
      .notice {
        border-color: var(--warn);
        word-break: break-all;
      }
    `,
  ];

  @property({ attribute: false }) resource!: Resource;
  @consume({ context: apiContext }) api!: Api;
  @state() private rows: Row[] | undefined;
  @state() private options: Record<string, { value: string; label: string }[]> = {};
  @state() error = '';
  @state() notice: string | TemplateResult = '';
  /** The row being edited in the form (PATCH), or undefined when the form creates. */
  @state() private editing: Row | undefined;
  /** The filters applied, and where the page starts (resources with filters and pages). */
  @state() private filter: Record<string, string> = {};
  @state() private offset = 0;
  @state() private total: number | undefined;
  /** The form's live hint (`Resource.preview`), and the timer that waits for typing to pause. */
  @state() private hint = '';
  private hintTimer: number | undefined;

  private formChanged(e: Event) {
    const preview = this.resource.preview;
    if (!preview) return;
    const form = (e.currentTarget as HTMLFormElement | null) ?? undefined;
    clearTimeout(this.hintTimer);
    this.hintTimer = window.setTimeout(async () => {
      if (!form) return;
      const values = Object.fromEntries(
        [...new FormData(form).entries()].map(([k, v]) => [k, String(v).trim()]),
      );
      try {
        this.hint = (await preview(values, this.api)) ?? '';
      } catch (err) {
        this.hint = (err as Error).message;
      }
    }, 300);
  }

  override updated(changed: Map<string, unknown>): void {
    if (changed.has('resource')) {
      this.rows = undefined;
      this.notice = '';
      this.error = '';
      this.filter = {};
      this.offset = 0;
      void this.load();
    }
  }

  private applyFilter(e: Event) {
    e.preventDefault();
    const data = new FormData(e.target as HTMLFormElement);
    this.filter = Object.fromEntries(
      (this.resource.filters ?? []).map((f) => [f.key, String(data.get(f.key) ?? '').trim()]),
    );
    this.offset = 0;
    void this.load();
  }

  private page(offset: number) {
    this.offset = Math.max(0, offset);
    void this.load();
  }

  private renderFilters() {
    const { filters, title } = this.resource;
    if (!filters?.length) return nothing;
    return html`<form class="panel" role="search" aria-label="Filter ${title}" @submit=${this.applyFilter}>
      ${filters.map((f) =>
        f.options
          ? html`<label>${f.label}<select name=${f.key}><option value="">any</option>${f.options.map((o) => html`<option ?selected=${this.filter[f.key] === o}>${o}</option>`)}</select></label>`
          : html`<label>${f.label}<input name=${f.key} .value=${this.filter[f.key] ?? ''} placeholder=${f.placeholder ?? ''} /></label>`,
      )}
      <div class="row"><button type="submit">Filter</button></div>
    </form>`;
  }

  private renderPaging() {
    const { pageSize } = this.resource;
    if (!pageSize || this.total === undefined || !this.rows?.length) return nothing;
    const last = this.offset + this.rows.length;
    return html`<div class="row" aria-label="Pages">
      <span class="muted">${this.offset + 1}–${last} of ${this.total}</span>
      <button ?disabled=${this.offset === 0} @click=${() => this.page(this.offset - pageSize)}>Newer</button>
      <button ?disabled=${last >= this.total} @click=${() => this.page(this.offset + pageSize)}>Older</button>
    </div>`;
  }

  async load(): Promise<void> {
    try {
      const { pageSize, path } = this.resource;
      const query = new URLSearchParams(Object.entries(this.filter).filter(([, v]) => v));
      if (pageSize) {
        query.set('limit', String(pageSize));
        query.set('offset', String(this.offset));
      }
      const body = await this.api.get<{ items: Row[]; total?: number }>(
        `${path}${query.size ? `?${query}` : ''}`,
      );
      this.rows = body.items;
      this.total = body.total;
      for (const f of this.resource.fields)
        if (f.options) this.options = { ...this.options, [f.key]: await f.options(this.api) };
    } catch (err) {
      this.error = (err as Error).message;
    }
  }

  private async startEdit(row: Row) {
    try {
      this.editing = this.resource.edit ? { ...row, ...(await this.resource.edit(row, this.api)) } : row;
    } catch (err) {
      this.error = (err as Error).message;
    }
  }

  /** Runs an action, shows its error or notice, and reloads the table. */
  async act(work: () => Promise<unknown>): Promise<void> {
    try {
      const notice = await work();
      this.notice =
        typeof notice === 'string' || isTemplate(notice) ? (notice as string | TemplateResult) : '';
      this.error = '';
      await this.load();
    } catch (err) {
      this.error = (err as Error).message;
    }
  }

  private create(event: SubmitEvent) {
    event.preventDefault();
    const form = event.target as HTMLFormElement;
    const data = new FormData(form);
    const values: Record<string, unknown> = {};
    for (const f of this.resource.fields) {
      if (this.editing && f.createOnly) continue;
      if (f.kind === 'multi') {
        // While editing, only resources that load their lists (edit()) show them; leaving them
        // out keeps what the object has.
        if (!this.editing || this.resource.edit) values[f.key] = data.getAll(f.key).map(String);
      } else if (f.kind === 'checkbox') values[f.key] = data.get(f.key) === 'on';
      else {
        const raw = String(data.get(f.key) ?? '');
        if (raw === '') {
          if (this.editing && f.clearable) values[f.key] = null;
          continue;
        }
        values[f.key] = f.kind === 'number' ? Number(raw) : raw;
      }
    }
    const editing = this.editing;
    void this.act(async () => {
      const body = this.resource.body ? this.resource.body(values) : values;
      const warning = async (saved: Row) => (await this.resource.warn?.(saved, this.api)) ?? '';
      if (editing) {
        const saved = await this.api.request<Row>('PATCH', `${this.resource.path}/${editing.id}`, body);
        this.editing = undefined;
        form.reset();
        return `Saved ${editing.name ?? editing.username ?? ''}. ${await warning(saved)}`.trim();
      }
      const created = await this.api.post<Row>(this.resource.path, body);
      form.reset();
      const said = await warning(created);
      const after = await this.resource.afterCreate?.(created, this);
      return said ? (after ? html`${after} <strong>${said}</strong>` : said) : after;
    });
  }

  private field(f: Field) {
    const opts = this.options[f.key] ?? [];
    const current = this.editing?.[f.key];
    if (f.kind === 'suggest') {
      if (this.editing && f.createOnly) return nothing;
      const list = `${this.resource.key}-${f.key}-options`;
      // The attribute is what a form reset goes back to; the property is set only when the value
      // to show changes (create ↔ edit), never over what the user is typing when the page redraws.
      const value = this.editing ? (current == null ? '' : String(current)) : (f.initial ?? '');
      return html`<label>${f.label}<input name=${f.key} list=${list} ?required=${f.required && !this.editing} value=${value} .value=${value} autocomplete="off" /></label>
        <datalist id=${list}>${opts.map((o) => html`<option value=${o.value}>${o.label}</option>`)}</datalist>`;
    }
    if (this.editing) {
      if (f.createOnly) return nothing;
      // Edits change what the table shows; list fields and write-only values stay as they are
      // unless typed again.
      if (f.kind === 'multi') {
        if (!this.resource.edit) return nothing;
        const chosen = new Set((current as string[] | undefined) ?? []);
        return html`<label>${f.label}<select name=${f.key} multiple>${opts.map((o) => html`<option value=${o.value} ?selected=${chosen.has(o.value)}>${o.label}</option>`)}</select></label>`;
      }
      if (f.kind === 'select')
        return html`<label>${f.label}<select name=${f.key}>${opts.map((o) => html`<option value=${o.value} ?selected=${o.value === String(current)}>${o.label}</option>`)}</select></label>`;
      if (f.kind === 'checkbox')
        return html`<label><span><input type="checkbox" name=${f.key} .checked=${Boolean(current)} /> ${f.label}</span></label>`;
      return html`<label>${f.label}<input name=${f.key} type=${f.kind} step=${f.kind === 'number' ? 'any' : nothing} .value=${f.kind === 'password' || current == null ? '' : String(current)} placeholder=${f.kind === 'password' ? 'unchanged' : ''} autocomplete="off" /></label>`;
    }
    if (f.kind === 'select')
      return html`<label>${f.label}<select name=${f.key} ?required=${f.required}>${opts.map((o) => html`<option value=${o.value}>${o.label}</option>`)}</select></label>`;
    if (f.kind === 'multi')
      return html`<label>${f.label}<select name=${f.key} multiple>${opts.map((o) => html`<option value=${o.value}>${o.label}</option>`)}</select></label>`;
    if (f.kind === 'checkbox')
      return html`<label><span><input type="checkbox" name=${f.key} /> ${f.label}</span></label>`;
    return html`<label>${f.label}<input name=${f.key} type=${f.kind} step=${f.kind === 'number' ? 'any' : nothing} ?required=${f.required} placeholder=${f.placeholder ?? ''} autocomplete=${f.kind === 'password' ? 'new-password' : 'off'} /></label>`;
  }

  override render() {
    const r = this.resource;
    return html`
      ${r.intro?.(this) ?? nothing}
      ${
        r.fields.length
          ? html`<form class="panel" @submit=${this.create} @input=${this.formChanged} @change=${this.formChanged} aria-label=${this.editing ? `Edit ${this.editing.name ?? this.editing.username}` : `New ${r.title}`}>
              ${r.fields.map((f) => this.field(f))}
              ${this.hint ? html`<p class="muted" role="status" aria-label="Preview" style="grid-column: 1 / -1">${this.hint}</p>` : nothing}
              <div class="row">
                <button class="primary" type="submit">${this.editing ? 'Save' : 'Create'}</button>
                ${this.editing ? html`<button type="button" @click=${() => (this.editing = undefined)}>Cancel</button>` : nothing}
              </div>
            </form>`
          : nothing
      }
      ${this.notice ? html`<p class="panel notice" role="status">${this.notice}</p>` : nothing}
      ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : nothing}
      ${this.renderFilters()}
      ${
        !this.rows
          ? html`<p class="muted">Loading…</p>`
          : !this.rows.length
            ? html`<div class="panel"><p class="muted">Nothing here yet.</p></div>`
            : html`<div class="panel"><table>
                <thead><tr>${r.columns.map((c) => html`<th>${c.label}</th>`)}<th></th></tr></thead>
                <tbody>${this.rows.map(
                  (row) => html`<tr data-row=${String(row.name ?? row.username ?? row.id)}>
                    ${r.columns.map((c) => html`<td>${c.value(row)}</td>`)}
                    <td><div class="row">
                      ${r.fields.length ? html`<button @click=${() => this.startEdit(row)}>Edit</button>` : nothing}
                      ${r.rowActions?.(row, this) ?? nothing}
                      ${
                        r.deletable
                          ? html`<button class="danger" @click=${() => {
                              if (confirm(`Delete ${row.name ?? row.username ?? row.id}?`))
                                void this.act(() => this.api.delete(`${r.path}/${row.id}`));
                            }}>Delete</button>`
                          : nothing
                      }
                    </div>${r.rowDetail?.(row, this) ?? nothing}</td>
                  </tr>`,
                )}</tbody></table></div>`
      }
      ${this.renderPaging()}`;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'nullops-admin-resource': AdminResourcePage;
  }
}
