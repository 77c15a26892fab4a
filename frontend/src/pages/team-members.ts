import { html, LitElement, nothing } from 'lit';
import { customElement, property, state } from 'lit/decorators.js';
import type { Api } from '../api.js';
import { shared } from '../theme.js';
import type { Row } from './admin-resources.js';

/** A team's members, listed with a remove button each, and a user picker to add one. */
@customElement('nullops-team-members')
export class TeamMembers extends LitElement {
  static override styles = [shared];
  @property({ attribute: false }) api!: Api;
  @property() teamId = '';
  @property() teamName = '';
  @state() private members: Row[] = [];
  @state() private users: Row[] = [];
  @state() private error = '';

  protected override willUpdate(changed: Map<string, unknown>): void {
    if ((changed.has('teamId') || changed.has('api')) && this.api && this.teamId) void this.load();
  }

  private async load() {
    try {
      this.members = (await this.api.get<Row>(`/api/teams/${this.teamId}`)).members;
      this.users = (await this.api.get<{ items: Row[] }>('/api/users')).items;
      this.error = '';
    } catch (err) {
      this.error = (err as Error).message;
    }
  }

  private async change(method: 'PUT' | 'DELETE', userId: string) {
    try {
      await this.api.request(method, `/api/teams/${this.teamId}/members/${userId}`);
      await this.load();
    } catch (err) {
      this.error = (err as Error).message;
    }
  }

  override render() {
    const ids = new Set(this.members.map((m) => m.id));
    const others = this.users.filter((u) => !ids.has(u.id));
    return html`<div aria-label="Members of ${this.teamName}" role="group">
      ${
        this.members.length
          ? html`<ul>${this.members.map(
              (m) => html`<li data-member=${m.username}>${m.username}
        <button aria-label="Remove ${m.username} from ${this.teamName}" @click=${() => this.change('DELETE', m.id)}>Remove</button></li>`,
            )}</ul>`
          : html`<p class="muted">No members.</p>`
      }
      ${
        others.length
          ? html`<div class="row"><select aria-label="User to add to ${this.teamName}">${others.map((u) => html`<option value=${u.id}>${u.username}</option>`)}</select>
            <button @click=${(e: Event) => {
              const select = (e.target as HTMLElement).previousElementSibling as HTMLSelectElement;
              void this.change('PUT', select.value);
            }}>Add member</button></div>`
          : nothing
      }
      ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : nothing}
    </div>`;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'nullops-team-members': TeamMembers;
  }
}
