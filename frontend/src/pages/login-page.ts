import { consume } from '@lit/context';
import { css, html, LitElement } from 'lit';
import { customElement, property, state } from 'lit/decorators.js';
import type { Api, User } from '../api.js';
import { apiContext } from '../context.js';
import { shared } from '../theme.js';

interface SignInOptions {
  providers: { slug: string; name: string }[];
  passwordLogin: 'on' | 'break-glass';
}

/**
 * Sign-in: a button per single sign-on provider, and the password form (folded away when password
 * sign-in is limited to break-glass administrators). A refused single sign-on comes back here with
 * its reason, which is shown.
 *
 * @fires signed-in - with the user signed in (bubbles, composed), once `complete` (when given)
 *   has finished; what fails there is shown on this page.
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
      .fields {
        display: grid;
        gap: 0.8rem;
        margin-top: 0.8rem;
      }
    `,
  ];

  @consume({ context: apiContext }) private api!: Api;
  /** What the host does with the signed-in user before the page goes (the app loads its access). */
  @property({ attribute: false }) complete?: (user: User) => Promise<void>;
  @state() private error = '';
  @state() private busy = false;
  @state() private options: SignInOptions = { providers: [], passwordLogin: 'on' };

  override connectedCallback(): void {
    super.connectedCallback();
    const refused = new URLSearchParams(location.search).get('sso_error');
    if (refused) {
      this.error = refused;
      // Shown once: a reload or a bookmark does not bring it back.
      history.replaceState(null, '', location.pathname);
    }
    void this.api
      .get<SignInOptions>('/api/auth/sso')
      .then(async (options) => {
        this.options = options;
        await this.updateComplete;
        // With providers, one of them is the first choice: the focus goes there, unless the user
        // has already started on the password form (the options can come late).
        const name = this.field('username');
        const focused = this.shadowRoot?.activeElement;
        const untouched = !name?.value && (!focused || focused === name);
        if (options.providers.length && untouched)
          this.renderRoot.querySelector<HTMLButtonElement>('button[data-provider]')?.focus();
      })
      .catch(() => {});
  }

  /** Typing starts at the user name; it is there before the options arrive. */
  protected override firstUpdated(): void {
    this.field('username')?.focus();
  }

  private field(name: string) {
    return this.renderRoot.querySelector<HTMLInputElement>(`input[name="${name}"]`);
  }

  private sso(slug: string) {
    const returnTo = location.pathname === '/' ? '/' : location.pathname + location.search;
    location.assign(
      `/api/auth/sso/${encodeURIComponent(slug)}/start?returnTo=${encodeURIComponent(returnTo)}`,
    );
  }

  private async submit(event: SubmitEvent) {
    event.preventDefault();
    const data = new FormData(event.target as HTMLFormElement);
    this.busy = true;
    this.error = '';
    try {
      await this.api.login(String(data.get('username')), String(data.get('password')));
      const user = await this.api.me();
      // Signed in, yet the next request is not: the browser did not keep the session's cookie.
      if (!user)
        throw new Error('signed in, but this browser did not keep the session: allow cookies for this site');
      await this.complete?.(user);
      this.dispatchEvent(new CustomEvent('signed-in', { detail: user, bubbles: true, composed: true }));
    } catch (err) {
      this.error = (err as Error).message;
    } finally {
      this.busy = false;
    }
  }

  override render() {
    const { providers, passwordLogin } = this.options;
    const passwordForm = html`
      <label>User name <input name="username" autocomplete="username" required /></label>
      <label>Password <input name="password" type="password" autocomplete="current-password" required /></label>
      <button class=${providers.length ? '' : 'primary'} type="submit" ?disabled=${this.busy}>Sign in</button>`;
    return html`
      <form class="panel" @submit=${this.submit} aria-labelledby="title">
        <h1 id="title">Sign in to NullOps</h1>
        ${providers.map(
          (p) =>
            html`<button class="primary" type="button" data-provider=${p.slug} @click=${() => this.sso(p.slug)}>Sign in with ${p.name}</button>`,
        )}
        ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : ''}
        ${providers.length && passwordLogin === 'on' ? html`<p class="muted">or with a NullOps password:</p>` : ''}
        ${
          passwordLogin === 'break-glass'
            ? html`<details><summary>Administrator sign-in (break-glass)</summary><div class="fields">${passwordForm}</div></details>`
            : passwordForm
        }
      </form>
    `;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'nullops-login-page': LoginPage;
  }
}
