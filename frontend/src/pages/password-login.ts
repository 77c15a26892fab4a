import { html, LitElement, nothing } from 'lit';
import { customElement, property, state } from 'lit/decorators.js';
import type { Api } from '../api.js';
import { shared } from '../theme.js';

type Mode = 'on' | 'break-glass';

/**
 * Whether password sign-in stays open to everyone, or only to break-glass administrators (so that
 * someone can still sign in if single sign-on fails; the server refuses to lock everyone out).
 */
@customElement('nullops-password-login')
export class PasswordLogin extends LitElement {
  static override styles = [shared];
  @property({ attribute: false }) api!: Api;
  @state() private mode: Mode = 'on';
  @state() private error = '';
  @state() private saved = '';

  protected override willUpdate(changed: Map<string, unknown>): void {
    if (changed.has('api') && this.api)
      void this.api.get<{ passwordLogin: Mode }>('/api/auth/sso').then((o) => {
        this.mode = o.passwordLogin;
      });
  }

  private async save(mode: Mode) {
    this.error = '';
    this.saved = '';
    try {
      await this.api.request('PUT', '/api/auth/password-login', { mode });
      this.mode = mode;
      this.saved =
        mode === 'on'
          ? 'Everyone may sign in with a password.'
          : 'Only break-glass administrators may sign in with a password.';
    } catch (err) {
      this.error = (err as Error).message;
    }
  }

  override render() {
    return html`<div class="panel row" role="group" aria-label="Password sign-in">
      <label>Password sign-in
        <select aria-label="Password sign-in" @change=${(e: Event) => void this.save((e.target as HTMLSelectElement).value as Mode)}>
          <option value="on" ?selected=${this.mode === 'on'}>open to everyone</option>
          <option value="break-glass" ?selected=${this.mode === 'break-glass'}>break-glass administrators only</option>
        </select>
      </label>
      ${this.saved ? html`<span role="status">${this.saved}</span>` : nothing}
      ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : nothing}
    </div>`;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'nullops-password-login': PasswordLogin;
  }
}
