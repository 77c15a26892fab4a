import { html, nothing } from 'lit';
import type { CatalogEntry, GraphNode, JsonSchema } from './pipeline-graph.js';

/** What kind of form field (and canvas widget) a param's JSON Schema asks for. */
export const primitive = (s: JsonSchema | undefined) => {
  const t = Array.isArray(s?.type) ? s?.type[0] : s?.type;
  if (s?.enum) return 'enum';
  return t === 'string' || t === 'number' || t === 'integer' || t === 'boolean' ? t : 'json';
};

/** One param of a node, and what its field does. */
export interface ParamField {
  node: GraphNode;
  key: string;
  schema: JsonSchema;
  required: boolean;
  entry?: CatalogEntry | undefined;
  /** The project's services: a component that runs one offers them to choose from. */
  services: string[];
  readOnly: boolean;
  set(value: unknown): void;
  /** What is wrong with the value typed (empty once it is right). */
  invalid(message: string): void;
}

/**
 * A node param as an accessible form field, by its JSON Schema: a choice of the project's services,
 * a checkbox, a select, JSON in a text area, or a text or number input.
 */
export function paramField(field: ParamField) {
  const { node, key, schema, required, entry, readOnly, set } = field;
  const kind = primitive(schema);
  const value = node.params[key];
  const label = html`${key}${required ? ' *' : ''}`;
  // Which service a node runs is a choice among the project's, not free text (a typo saved is a
  // pipeline every deployment of which fails).
  if (key === 'service' && entry?.projectService) {
    const unknown = typeof value === 'string' && value && !field.services.includes(value);
    return html`<label>${label}<select name=${key} ?disabled=${readOnly} @change=${(e: Event) => set((e.target as HTMLSelectElement).value)}>
        <option value="" ?selected=${!value}>— choose a service of the project —</option>
        ${field.services.map((name) => html`<option ?selected=${value === name}>${name}</option>`)}
        ${unknown ? html`<option selected value=${value as string}>${value} (not a service of the project)</option>` : nothing}
      </select></label>`;
  }
  if (kind === 'boolean')
    return html`<label><span><input type="checkbox" name=${key} .checked=${Boolean(value ?? schema.default)} ?disabled=${readOnly} @change=${(e: Event) => set((e.target as HTMLInputElement).checked)} /> ${label}</span></label>`;
  if (kind === 'enum')
    return html`<label>${label}<select name=${key} ?disabled=${readOnly} @change=${(e: Event) => set((e.target as HTMLSelectElement).value)}>
        ${(schema.enum ?? []).map((o) => html`<option ?selected=${(value ?? schema.default) === o}>${String(o)}</option>`)}
      </select></label>`;
  if (kind === 'json')
    return html`<label>${label} (JSON)<textarea name=${key} ?readonly=${readOnly} @change=${(e: Event) => {
      const text = (e.target as HTMLTextAreaElement).value.trim();
      try {
        set(text ? JSON.parse(text) : undefined);
        field.invalid('');
      } catch {
        field.invalid(`${node.id}.${key}: not valid JSON`);
      }
    }}>${value === undefined ? '' : JSON.stringify(value)}</textarea></label>`;
  return html`<label>${label}<input name=${key} type=${kind === 'string' ? 'text' : 'number'} .value=${value === undefined ? '' : String(value)}
      placeholder=${schema.default !== undefined ? String(schema.default) : ''} ?readonly=${readOnly}
      @change=${(e: Event) => {
        const raw = (e.target as HTMLInputElement).value;
        set(kind === 'string' || raw === '' ? raw : Number(raw));
      }} /></label>`;
}
