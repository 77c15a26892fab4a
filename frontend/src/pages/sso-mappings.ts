import { html, LitElement, nothing } from 'lit';
import { customElement, property, state } from 'lit/decorators.js';
import type { Api } from '../api.js';
import { shared } from '../theme.js';
import type { Row } from './admin-resources.js';

/**
 * A single sign-on provider's group mappings: each provider group gives a team membership or the
 * administrator role, followed at every sign-in. Listed with a remove button each, and a form to add one.
 */
@customElement('nullops-sso-mappings')
export class SsoMappings extends LitElement {
  static override styles = [shared];
  @property({ attribute: false }) api!: Api;
  @property() providerId = '';
  @property() providerName = '';
  @state() private mappings: Row[] = [];
  @state() private teams: Row[] = [];
  @state() private error = '';

  protected override willUpdate(changed: Map<string, unknown>): void {
    if ((changed.has('providerId') || changed.has('api')) && this.api && this.providerId) void this.load();
  }

  private get path() {
    return `/api/sso/providers/${this.providerId}/mappings`;
  }

  private async load() {
    try {
      this.mappings = (await this.api.get<{ items: Row[] }>(this.path)).items;
      this.teams = (await this.api.get<{ items: Row[] }>('/api/teams')).items;
      this.error = '';
    } catch (err) {
      this.error = (err as Error).message;
    }
  }

  private async act(work: () => Promise<unknown>) {
    try {
      await work();
      await this.load();
    } catch (err) {
      this.error = (err as Error).message;
    }
  }

  private add(event: SubmitEvent) {
    event.preventDefault();
    const form = event.target as HTMLFormElement;
    const data = new FormData(form);
    const role = String(data.get('role'));
    void this.act(async () => {
      await this.api.request('POST', this.path, {
        group: String(data.get('group')),
        role,
        ...(role === 'member' ? { teamId: String(data.get('teamId')) } : {}),
      });
      form.reset();
    });
  }

  override render() {
    const teamName = (id: string | null) => this.teams.find((t) => t.id === id)?.name ?? id;
    return html`<div role="group" aria-label="Groups of ${this.providerName}">
      ${
        this.mappings.length
          ? html`<ul>${this.mappings.map(
              (m) => html`<li data-mapping=${m.group}>group <strong>${m.group}</strong> →
                ${m.role === 'admin' ? 'administrators' : html`member of <strong>${teamName(m.teamId)}</strong>`}
                <button aria-label="Remove the mapping of ${m.group}" @click=${() => this.act(() => this.api.delete(`${this.path}/${m.id}`))}>Remove</button></li>`,
            )}</ul>`
          : html`<p class="muted">No group may sign in yet: map one.</p>`
      }
      <form class="row" aria-label="Map a group of ${this.providerName}" @submit=${this.add}>
        <input name="group" aria-label="Provider group" placeholder="group, e.g. qa-engineers" required />
        <select name="role" aria-label="Gives">
          <option value="member">membership of</option>
          <option value="admin">the administrator role</option>
        </select>
        <select name="teamId" aria-label="Team">${this.teams.map((t) => html`<option value=${t.id}>${t.name}</option>`)}</select>
        <button type="submit">Map group</button>
      </form>
      ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : nothing}
    </div>`;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'nullops-sso-mappings': SsoMappings;
  }
}
