// The PostgreSQL plugin's web UI: a "Database" panel on the deployment page with the connection
// details of the deployment's databases, for users with full access (the route checks it too).
const STYLE = `
  dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.3rem 1rem; margin: 0 0 0.8rem; }
  dt { color: var(--muted, #666); }
  code { word-break: break-all; }
  button { font: inherit; }
`;

class PostgresPanel extends HTMLElement {
  #deployment;
  #loadedFor;
  constructor() {
    super();
    this.attachShadow({ mode: 'open' });
  }
  set deployment(d) {
    this.#deployment = d;
    this.#load();
  }
  async #load() {
    const d = this.#deployment;
    // Again at each state: the database's details exist once its step has run (a panel opened
    // while the deployment was being created said "no database" until a reload).
    const key = `${d?.id}:${d?.state}`;
    if (!d || !this.api || this.#loadedFor === key) return;
    this.#loadedFor = key;
    const root = this.shadowRoot;
    if (this.access !== 'full') {
      root.innerHTML = '<p>Connection details are shown to users with full access.</p>';
      return;
    }
    if (d.state !== 'running') {
      root.textContent =
        d.state === 'pending' || d.state === 'deploying'
          ? 'The connection details appear here once the database is up.'
          : 'The deployment is not running: it has no database to connect to now.';
      return;
    }
    try {
      const { databases } = await this.api.get(
        `/api/ext/@nullops/plugin-postgres/deployments/${d.id}/connection`,
      );
      root.innerHTML = `<style>${STYLE}</style>`;
      for (const db of databases) {
        const dl = document.createElement('dl');
        const rows = [
          ['Host (inside the deployment)', `${db.host}:${db.port}`],
          ['Database', db.database],
          ['User', db.user],
          ['Password', '••••••••'],
          ['Connection string', db.connectionString.replace(/:[^:@/]+@/, ':••••@')],
        ];
        for (const [label, value] of rows) {
          const dt = document.createElement('dt');
          dt.textContent = label;
          const dd = document.createElement('dd');
          const code = document.createElement('code');
          code.textContent = value;
          code.dataset.field = label;
          dd.append(code);
          dl.append(dt, dd);
        }
        const reveal = document.createElement('button');
        reveal.textContent = 'Show password';
        reveal.addEventListener('click', () => {
          dl.querySelector('[data-field="Password"]').textContent = db.password;
          dl.querySelector('[data-field="Connection string"]').textContent = db.connectionString;
          reveal.remove();
        });
        root.append(dl, reveal);
      }
    } catch (err) {
      root.textContent = /no PostgreSQL/.test(err.message)
        ? 'This deployment has no PostgreSQL database.'
        : err.message;
    }
  }
}

export default function register(nullops) {
  if (!customElements.get('nullops-postgres-panel'))
    customElements.define('nullops-postgres-panel', PostgresPanel);
  nullops.addPanel({
    slot: 'deployment',
    title: 'Database',
    element: 'nullops-postgres-panel',
    // Only where the pipeline starts a PostgreSQL database (older control planes: always).
    when: (deployment) => !Array.isArray(deployment.databases) || deployment.databases.length > 0,
  });
}
