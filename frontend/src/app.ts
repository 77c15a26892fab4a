import { ContextProvider } from '@lit/context';
import { css, html, LitElement, type TemplateResult } from 'lit';
import { customElement, state } from 'lit/decorators.js';
import { type Access, Api } from './api.js';
import { apiContext, type Session, sessionContext } from './context.js';
import { PluginUis, pluginUiContext } from './plugin-ui.js';
import { Router } from './router.js';
import { shared, tokens } from './theme.js';
import './pages/login-page.js';
import './pages/deployments-page.js';
import './pages/deployment-page.js';
import './pages/projects-page.js';
import './pages/plugins-page.js';
import './pages/admin-pages.js';
import './pages/account-page.js';

type Theme = 'light' | 'dark' | 'system';

/**
 * The application shell: provides the API client and the session to every page (context),
 * gates everything behind sign-in, and routes on the client. Pages that weigh much (the pipeline
 * editor) are imported only when opened.
 */
@customElement('nullops-app')
export class NullOpsApp extends LitElement {
  static override styles = [
    tokens,
    shared,
    css`
      :host {
        display: block;
        min-height: 100vh;
        background: var(--bg);
      }
      header {
        display: flex;
        align-items: center;
        gap: 1rem;
        padding: 0.6rem 1rem;
        background: var(--panel);
        border-bottom: 1px solid var(--border);
        flex-wrap: wrap;
      }
      header strong {
        font-size: 1.1rem;
      }
      nav {
        display: flex;
        gap: 0.8rem;
        flex: 1;
      }
      nav a {
        text-decoration: none;
      }
      nav a[aria-current='page'] {
        font-weight: 600;
        text-decoration: underline;
      }
      main {
        padding: 1rem;
        max-width: 1200px;
        margin: 0 auto;
      }
    `,
  ];

  private readonly api = new Api();
  // biome-ignore lint/correctness/noUnusedPrivateClassMembers: a ContextProvider serves descendants by existing
  private readonly apiProvider = new ContextProvider(this, { context: apiContext, initialValue: this.api });
  private readonly sessionProvider = new ContextProvider(this, { context: sessionContext });
  private readonly pluginUis = new PluginUis();
  // biome-ignore lint/correctness/noUnusedPrivateClassMembers: a ContextProvider serves descendants by existing
  private readonly pluginUiProvider = new ContextProvider(this, {
    context: pluginUiContext,
    initialValue: this.pluginUis,
  });
  private readonly router = new Router(() => this.requestUpdate());

  @state() private session: Session | undefined;
  @state() private loading = true;
  @state() private theme: Theme = (localStorage.getItem('nullops-theme') as Theme | null) ?? 'system';

  override connectedCallback(): void {
    super.connectedCallback();
    this.applyTheme();
    this.api.onUnauthenticated = () => this.setSession(undefined);
    void this.restore();
  }

  private async restore() {
    try {
      const user = await this.api.me();
      if (user) await this.signedIn(user);
    } finally {
      this.loading = false;
    }
  }

  private async signedIn(user: Session['user']) {
    const access = await this.api.get<Access>('/api/auth/access');
    this.setSession({ user, access });
    // Plugin UIs load after sign-in; one that fails is logged and the rest still load.
    this.pluginUis.refresh(this.api).then(
      (errors) => {
        for (const e of errors) console.warn(`plugin UI failed to load: ${e}`);
      },
      () => {},
    );
  }

  private setSession(session: Session | undefined) {
    this.session = session;
    this.sessionProvider.setValue(session);
  }

  private async logout() {
    await this.api.post('/api/auth/logout').catch(() => {});
    this.setSession(undefined);
    this.router.go('/');
  }

  private applyTheme() {
    if (this.theme === 'system') this.removeAttribute('theme');
    else this.setAttribute('theme', this.theme);
  }

  private cycleTheme() {
    const order: Theme[] = ['system', 'light', 'dark'];
    this.theme = order[(order.indexOf(this.theme) + 1) % order.length] as Theme;
    localStorage.setItem('nullops-theme', this.theme);
    this.applyTheme();
  }

  private link(path: string, label: string) {
    const current = path === '/' ? location.pathname === '/' : location.pathname.startsWith(path);
    return html`<a href=${path} aria-current=${current ? 'page' : 'false'}>${label}</a>`;
  }

  override render(): TemplateResult {
    if (this.loading) return html`<main class="muted">Loading…</main>`;
    if (!this.session)
      return html`<nullops-login-page
        @signed-in=${(e: CustomEvent<Session['user']>) => void this.signedIn(e.detail)}
      ></nullops-login-page>`;
    // Administration is for administrators: others get a plain page saying so, not forms that fail.
    const adminOnly = (page: () => TemplateResult) => () =>
      this.session?.access.admin
        ? page()
        : html`<div class="panel" role="alert"><h2>Administrators only</h2><p>This page is for NullOps administrators. <a href="/">Back to deployments</a></p></div>`;
    const page = this.router.resolve(
      [
        { path: '/', render: () => html`<nullops-deployments-page></nullops-deployments-page>` },
        {
          path: '/deployments/:id',
          render: (p) => html`<nullops-deployment-page .deploymentId=${p.id}></nullops-deployment-page>`,
        },
        { path: '/projects', render: () => html`<nullops-projects-page></nullops-projects-page>` },
        { path: '/account', render: () => html`<nullops-account-page></nullops-account-page>` },
        {
          path: '/admin/plugins',
          render: adminOnly(() => html`<nullops-plugins-page></nullops-plugins-page>`),
        },
        {
          path: '/admin/:resource',
          render: (p) =>
            adminOnly(() => html`<nullops-admin-page .resource=${p.resource}></nullops-admin-page>`)(),
        },
        {
          path: '/projects/:id/pipeline',
          render: (p) => {
            // The editor (and LiteGraph) load only when this page opens.
            void import('./pages/pipeline-editor.js');
            const version = new URLSearchParams(location.search).get('version');
            return html`<nullops-pipeline-editor .projectId=${p.id} .version=${version ? Number(version) : undefined}></nullops-pipeline-editor>`;
          },
        },
      ],
      html`<div class="panel"><h2>Not found</h2><p>There is no page at ${location.pathname}. <a href="/">Back to deployments</a></p></div>`,
    );
    return html`
      <header>
        <strong>NullOps</strong>
        <nav aria-label="Main">${this.link('/', 'Deployments')} ${this.link('/projects', 'Projects')}
          ${this.session.access.admin ? html`${this.link('/admin/plugins', 'Plugins')} ${this.link('/admin/registries', 'Admin')}` : ''}</nav>
        <button @click=${this.cycleTheme} title="Colour theme" aria-label="Colour theme: ${this.theme}">
          Theme: ${this.theme}
        </button>
        <a href="/account" aria-label="Your account">${this.session.user.username}</a>
        <button @click=${this.logout}>Sign out</button>
      </header>
      <main>${page}</main>
    `;
  }
}
