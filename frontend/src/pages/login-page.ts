import { consume } from '@lit/context';
import { css, html, LitElement } from 'lit';
import { customElement, state } from 'lit/decorators.js';
import type { Api } from '../api.js';
import { apiContext } from '../context.js';
import { shared } from '../theme.js';

/**
 * Sign-in form.
 *
 * @fires signed-in - with the user signed in (bubbles, composed).
 */
@customElement('nullops-login-page')
export class LoginPage extends LitElement {
  static override styles = [
    shared,
    css`
      :host {
        display: grid;
        place-items: center;
        min-height: 100vh;
        padding: 1rem;
      }
      form {
        display: grid;
        gap: 0.8rem;
        width: min(360px, 100%);
      }
      label {
        display: grid;
        gap: 0.3rem;
      }
    `,
  ];

  @consume({ context: apiContext }) private api!: Api;
  @state() private error = '';
  @state() private busy = false;

  private async submit(event: SubmitEvent) {
    event.preventDefault();
    const data = new FormData(event.target as HTMLFormElement);
    this.busy = true;
    this.error = '';
    try {
      await this.api.login(String(data.get('username')), String(data.get('password')));
      const user = await this.api.me();
      this.dispatchEvent(new CustomEvent('signed-in', { detail: user, bubbles: true, composed: true }));
    } catch (err) {
      this.error = (err as Error).message;
    } finally {
      this.busy = false;
    }
  }

  override render() {
    return html`
      <form class="panel" @submit=${this.submit} aria-labelledby="title">
        <h1 id="title">Sign in to NullOps</h1>
        <label>User name <input name="username" autocomplete="username" required autofocus /></label>
        <label>Password <input name="password" type="password" autocomplete="current-password" required /></label>
        ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : ''}
        <button class="primary" type="submit" ?disabled=${this.busy}>Sign in</button>
      </form>
    `;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'nullops-login-page': LoginPage;
  }
}
