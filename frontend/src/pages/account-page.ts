import { consume } from '@lit/context';
import { css, html, LitElement, nothing } from 'lit';
import { customElement, state } from 'lit/decorators.js';
import type { Api } from '../api.js';
import { apiContext, type Session, sessionContext } from '../context.js';
import { shared } from '../theme.js';
import type { ApiToken, Project } from './types.js';

/** Your account: change your password; personal API tokens for CI and embeds (scope, expiry, revoke). */
@customElement('nullops-account-page')
export class AccountPage extends LitElement {
  static override styles = [
    shared,
    css`
      form {
        display: grid;
        gap: 0.6rem;
        max-width: 32rem;
      }
      label {
        display: grid;
        gap: 0.2rem;
      }
      code.token {
        word-break: break-all;
      }
    `,
  ];
  @consume({ context: apiContext }) private api!: Api;
  @consume({ context: sessionContext, subscribe: true }) private session?: Session;
  @state() private tokens: ApiToken[] = [];
  @state() private projects: Project[] = [];
  @state() private created: { name: string; token: string } | undefined;
  @state() private passwordNote = '';
  @state() private passwordError = '';
  @state() private tokenError = '';

  override async connectedCallback() {
    super.connectedCallback();
    await this.load();
    this.projects = (await this.api.get<{ items: Project[] }>('/api/projects')).items;
  }

  private async load() {
    this.tokens = (await this.api.get<{ items: ApiToken[] }>('/api/auth/tokens')).items;
  }

  private async changePassword(e: SubmitEvent) {
    e.preventDefault();
    const form = e.target as HTMLFormElement;
    const data = new FormData(form);
    this.passwordNote = '';
    this.passwordError = '';
    if (data.get('newPassword') !== data.get('repeat')) {
      this.passwordError = 'The new password and its repetition differ.';
      return;
    }
    try {
      await this.api.post('/api/auth/password', {
        currentPassword: data.get('currentPassword'),
        newPassword: data.get('newPassword'),
      });
      form.reset();
      this.passwordNote = 'Password changed.';
    } catch (err) {
      this.passwordError = (err as Error).message;
    }
  }

  private async createToken(e: SubmitEvent) {
    e.preventDefault();
    const form = e.target as HTMLFormElement;
    const data = new FormData(form);
    const projectIds = data.getAll('projectIds').map(String);
    this.tokenError = '';
    try {
      const made = await this.api.post<ApiToken & { token: string }>('/api/auth/tokens', {
        name: data.get('name'),
        access: data.get('access'),
        expiresInDays: Number(data.get('expiresInDays')),
        ...(projectIds.length ? { projectIds } : {}),
      });
      this.created = { name: made.name, token: made.token };
      form.reset();
      await this.load();
    } catch (err) {
      this.tokenError = (err as Error).message;
    }
  }

  private async revoke(t: ApiToken) {
    if (!confirm(`Revoke the token "${t.name}"? Whatever uses it stops working at once.`)) return;
    try {
      await this.api.delete(`/api/auth/tokens/${t.id}`);
      await this.load();
    } catch (err) {
      this.tokenError = (err as Error).message;
    }
  }

  override render() {
    const projectName = (id: string) => this.projects.find((p) => p.id === id)?.name ?? id;
    const live = this.tokens.filter((t) => !t.revokedAt);
    return html`<h1 style="font-size:1.4rem">Account: ${this.session?.user.username}</h1>
      <section class="panel" aria-label="Password">
        <h2>Change your password</h2>
        <form @submit=${this.changePassword}>
          <label>Current password <input name="currentPassword" type="password" required autocomplete="current-password" /></label>
          <label>New password <input name="newPassword" type="password" required minlength="12" autocomplete="new-password" /></label>
          <label>New password again <input name="repeat" type="password" required minlength="12" autocomplete="new-password" /></label>
          ${this.passwordError ? html`<p class="error" role="alert">${this.passwordError}</p>` : nothing}
          ${this.passwordNote ? html`<p role="status">${this.passwordNote}</p>` : nothing}
          <div class="row"><button class="primary" type="submit">Change password</button></div>
        </form>
      </section>
      <section class="panel" aria-label="API tokens">
        <h2>Personal API tokens</h2>
        <p class="muted">For CI (<code>NULLOPS_TOKEN</code> of the <code>nullops</code> CLI) and embedded elements. A token can do what you can, or less: read-only, some projects only. It expires.</p>
        <form @submit=${this.createToken} aria-label="New token">
          <label>Name <input name="name" required maxlength="100" placeholder="github-ci" /></label>
          <label>Access <select name="access"><option value="full">full (create and delete deployments)</option><option value="read">read-only</option></select></label>
          <label>Expires after (days) <input name="expiresInDays" type="number" min="1" max="365" value="90" required /></label>
          <label>Only these projects (none: all you can see)
            <select name="projectIds" multiple size=${Math.min(6, Math.max(2, this.projects.length))}>
              ${this.projects.map((p) => html`<option value=${p.id}>${p.name}</option>`)}
            </select></label>
          ${this.tokenError ? html`<p class="error" role="alert">${this.tokenError}</p>` : nothing}
          <div class="row"><button class="primary" type="submit">Create token</button></div>
        </form>
        ${
          this.created
            ? html`<div class="panel" role="status" aria-label="New token value">
                <p><strong>${this.created.name}</strong>: copy it now, it is not shown again.</p>
                <code class="token">${this.created.token}</code>
                <div class="row"><button @click=${() => navigator.clipboard?.writeText(this.created?.token ?? '')}>Copy</button>
                <button @click=${() => (this.created = undefined)}>Done</button></div>
              </div>`
            : nothing
        }
        ${
          live.length
            ? html`<table>
                <thead><tr><th>Name</th><th>Starts with</th><th>Access</th><th>Expires</th><th>Last used</th><th></th></tr></thead>
                <tbody>${live.map(
                  (t) => html`<tr data-token=${t.name}>
                    <td>${t.name}</td><td><code>${t.prefix}…</code></td>
                    <td>${t.access}${t.projectIds ? html` · ${t.projectIds.map(projectName).join(', ')}` : ''}</td>
                    <td>${t.expiresAt ? new Date(t.expiresAt).toLocaleDateString() : 'never'}</td>
                    <td>${t.lastUsedAt ? new Date(t.lastUsedAt).toLocaleString() : 'never'}</td>
                    <td><button class="danger" aria-label="Revoke ${t.name}" @click=${() => this.revoke(t)}>Revoke</button></td>
                  </tr>`,
                )}</tbody></table>`
            : html`<p class="muted">No tokens yet.</p>`
        }
      </section>`;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'nullops-account-page': AccountPage;
  }
}
