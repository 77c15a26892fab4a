import { ContextProvider } from '@lit/context';
import { css, html, LitElement, type TemplateResult } from 'lit';
import { customElement, state } from 'lit/decorators.js';
import { type Access, Api } from './api.js';
import { apiContext, type Session, sessionContext } from './context.js';
import { registerCoreExtensions } from './extensions/core-extensions.js';
import {
  type Extension,
  ExtensionTree,
  extensionTreeContext,
  renderExtension,
} from './extensions/extension-tree.js';
import { PluginModules } from './extensions/plugin-modules.js';
import { match, Router } from './router.js';
import { shared, tokens } from './theme.js';
import './pages/login-page.js';

type Theme = 'light' | 'dark' | 'system';

/**
 * The application shell: provides the API client, the session and the extension tree to every
 * page (context), gates everything behind sign-in, and renders the tree's pages (routed on the
 * client) and navigation items. Pages that weigh much (the pipeline editor) load only when opened.
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
  private readonly tree = new ExtensionTree();
  private readonly pluginModules = new PluginModules(this.tree);
  // biome-ignore lint/correctness/noUnusedPrivateClassMembers: a ContextProvider serves descendants by existing
  private readonly treeProvider = new ContextProvider(this, {
    context: extensionTreeContext,
    initialValue: this.tree,
  });
  private readonly router = new Router(() => this.requestUpdate());

  @state() private session: Session | undefined;
  @state() private loading = true;
  @state() private theme: Theme = (localStorage.getItem('nullops-theme') as Theme | null) ?? 'system';

  constructor() {
    super();
    registerCoreExtensions(this.tree);
    this.tree.addEventListener('change', () => this.requestUpdate());
    // The plugins page installed or removed one: load the browser modules that are new.
    this.addEventListener('plugins-changed', () => void this.loadPlugins());
    // Back to this tab: what other administrators changed meanwhile (extensions turned off or
    // moved, plugins installed) applies now, without a reload.
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState !== 'visible' || !this.session) return;
      this.tree.loadSettings(this.api).catch(() => {});
      void this.loadPlugins();
    });
  }

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
    this.tree.loadSettings(this.api).catch((err) => console.warn(`extension settings: ${err.message}`));
    void this.loadPlugins();
  }

  /** Plugin UIs load after sign-in; one that fails is logged and the rest still load. */
  private async loadPlugins() {
    try {
      for (const e of await this.pluginModules.refresh(this.api))
        console.warn(`plugin UI failed to load: ${e}`);
    } catch (err) {
      console.warn(`plugin UIs: ${(err as Error).message}`);
    }
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

  private link(ext: Extension) {
    const path = ext.config.path ?? '/';
    const current = path === '/' ? location.pathname === '/' : location.pathname.startsWith(path);
    return html`<a href=${path} aria-current=${current ? 'page' : 'false'} data-extension=${ext.id}>${ext.title}</a>`;
  }

  /** The page extension whose path matches the location, rendered with the route's params. */
  private renderPage(session: Session): unknown {
    for (const ext of this.tree.children('app', 'routes')) {
      const params = match(ext.config.path ?? '', location.pathname);
      if (!params) continue;
      // Administration is for administrators: others get a plain page saying so, not forms that fail.
      if (ext.config.adminOnly && !session.access.admin)
        return html`<div class="panel" role="alert"><h2>Administrators only</h2><p>This page is for NullOps administrators. <a href="/">Back to deployments</a></p></div>`;
      return renderExtension(ext, { api: this.api, session, data: { params, ...params } });
    }
    const off = this.tree
      .siblings('app', 'routes')
      .find((e) => match(e.config.path ?? '', location.pathname) && !this.tree.enabled(e.id));
    if (off)
      return html`<div class="panel" role="alert"><h2>${off.title} is turned off</h2><p>An administrator turned this page off. <a href="/">Back to deployments</a></p></div>`;
    return html`<div class="panel"><h2>Not found</h2><p>There is no page at ${location.pathname}. <a href="/">Back to deployments</a></p></div>`;
  }

  override render(): TemplateResult {
    if (this.loading) return html`<main class="muted">Loading…</main>`;
    if (!this.session)
      return html`<nullops-login-page .complete=${(user: Session['user']) => this.signedIn(user)}></nullops-login-page>`;
    const session = this.session;
    const nav = this.tree
      .children('app/nav', 'items')
      .filter((e) => !e.config.adminOnly || session.access.admin);
    const page = this.renderPage(session);
    return html`
      <header>
        <strong>NullOps</strong>
        <nav aria-label="Main">${nav.map((e) => this.link(e))}</nav>
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

declare global {
  interface HTMLElementTagNameMap {
    'nullops-app': NullOpsApp;
  }
}
