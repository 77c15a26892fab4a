import { css, html, LitElement, nothing, type PropertyValues } from 'lit';
import { customElement, property, query, state } from 'lit/decorators.js';
import type { Api } from '../api.js';
import { localTimes, timeOfDay } from '../format.js';
import { shared } from '../theme.js';
import type { DatabaseBackup, Deployment, DeploymentHistoryItem } from './types.js';

/**
 * The deployment page's own sections, each a core extension attached to the page's `panels`,
 * built exactly like a plugin's panel: an element given `api`, `access` and `deployment`.
 *
 * @fires deployment-changed - it queued an operation: the page loads the deployment again.
 * @fires deployment-error - with a message for the page to show.
 */
abstract class DeploymentSection extends LitElement {
  static override styles = [shared];
  @property({ attribute: false }) api!: Api;
  @property() access: 'read' | 'full' = 'read';
  @property({ attribute: false }) deployment?: Deployment;

  protected get live(): boolean {
    return this.deployment?.live ?? false;
  }

  /** Tells the page something changed (an operation queued), so it loads what it shows again. */
  protected changed(): void {
    this.dispatchEvent(new CustomEvent('deployment-changed', { bubbles: true, composed: true }));
  }

  protected failed(err: unknown): void {
    this.dispatchEvent(
      new CustomEvent('deployment-error', { detail: (err as Error).message, bubbles: true, composed: true }),
    );
  }
}

interface LogLine {
  service: string;
  stream: string;
  time: string;
  line: string;
}

const MAX_LOG_LINES = 5000;

/** What a node kept of a service when its run failed or it was deleted. */
interface KeptLogs {
  service: string;
  reason: 'failed' | 'deleted';
  keptAt: string;
  lines: Omit<LogLine, 'service'>[];
}

/**
 * Logs of one service at a time, with search and follow, each line with its time: live while the
 * deployment runs; once its run failed or it was deleted, the last lines its node kept.
 */
@customElement('nullops-deployment-logs')
export class DeploymentLogs extends DeploymentSection {
  static override styles = [
    shared,
    css`
      pre.logs {
        margin: 0;
        height: 320px;
        overflow: auto;
        background: var(--bg);
        border: 1px solid var(--border);
        border-radius: var(--radius);
        padding: 0.5rem;
        font-size: 0.85em;
        white-space: pre-wrap;
        word-break: break-all;
      }
      /* stderr is where most servers write their ordinary logs: set apart, not alarming. */
      .stderr {
        color: var(--muted);
      }
      time {
        color: var(--muted);
        margin-right: 0.6em;
        user-select: none;
      }
    `,
  ];
  @state() private service = '';
  @state() private logs: LogLine[] = [];
  /** The kept lines of a deployment that no longer runs (undefined: not loaded). */
  @state() private kept: KeptLogs[] | undefined;
  @state() private note = '';
  @state() private follow = true;
  @state() private search = '';
  @query('pre.logs') private box?: HTMLPreElement;
  private stream: EventSource | undefined;
  private openedFor = '';

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.stream?.close();
    this.openedFor = '';
  }

  override connectedCallback(): void {
    super.connectedCallback();
    this.openFirst();
  }

  protected override willUpdate(changed: PropertyValues<this>): void {
    if (changed.has('deployment')) this.openFirst();
  }

  protected override updated(): void {
    if (this.follow && this.box) this.box.scrollTop = this.box.scrollHeight;
  }

  /**
   * Once the deployment is known (and again for another one): a running service's logs (the one
   * already shown, else the first that runs), or, when it no longer runs, what its node kept.
   */
  private openFirst() {
    const d = this.deployment;
    // Once while it lives, and again at each state after (failed, deleting, deleted: what its
    // node kept arrives with the state).
    const key = `${d?.id}:${this.live ? 'live' : d?.state}`;
    if (!d || !this.isConnected || this.openedFor === key) return;
    if (!this.live) {
      this.openedFor = key;
      this.stream?.close();
      this.logs = [];
      void this.loadKept(d.id);
      return;
    }
    if (!d.services[0]) return;
    this.openedFor = key;
    const running = d.services.find(
      (s) => s.status === 'running' && !s.health?.condition?.match(/stopped|crashed/),
    );
    this.open(
      d.services.some((s) => s.name === this.service) ? this.service : (running ?? d.services[0]).name,
    );
  }

  private async loadKept(id: string) {
    try {
      const { items } = await this.api.get<{ items: KeptLogs[] }>(`/api/deployments/${id}/kept-logs`);
      this.kept = items;
      this.service = items.some((k) => k.service === this.service) ? this.service : (items[0]?.service ?? '');
    } catch (err) {
      this.note = (err as Error).message;
    }
  }

  private open(service: string) {
    const d = this.deployment;
    if (!d) return;
    this.stream?.close();
    this.service = service;
    this.logs = [];
    this.note = '';
    const stream = this.api.events(`/api/deployments/${d.id}/logs?service=${encodeURIComponent(service)}`);
    this.stream = stream;
    stream.addEventListener('log', (e) => {
      this.logs = [...this.logs, JSON.parse((e as MessageEvent).data) as LogLine].slice(-MAX_LOG_LINES);
    });
    // Why the stream ended (the service stopped, the node went offline…), shown under the box.
    stream.addEventListener('end', (e) => {
      const reason = (JSON.parse((e as MessageEvent).data || '{}') as { reason?: string }).reason;
      if (reason) this.note = reason;
    });
    // The service may not run yet (the deployment is still starting) or may have been restarted:
    // while the deployment lives, open the stream again (it starts with the recent lines).
    const again = () => {
      stream.close();
      window.setTimeout(() => {
        if (this.stream === stream && this.service === service && this.isConnected && this.live)
          this.open(service);
      }, 1000);
    };
    stream.addEventListener('end', again);
    stream.addEventListener('error', again);
  }

  override render() {
    const d = this.deployment;
    if (!d) return nothing;
    const needle = this.search.toLowerCase();
    const kept = this.live ? undefined : this.kept?.find((k) => k.service === this.service);
    const lines = kept ? kept.lines : this.logs;
    const shown = needle ? lines.filter((l) => l.line.toLowerCase().includes(needle)) : lines;
    const services = this.live ? d.services.map((s) => s.name) : (this.kept ?? []).map((k) => k.service);
    const empty = lines.length
      ? 'No line matches the search.'
      : this.live
        ? `No log lines from ${this.service || 'this service'} yet.`
        : this.kept
          ? 'This deployment no longer runs, and its node kept no lines of it.'
          : 'Loading the lines kept when it stopped running…';
    return html`
      <div class="row">
        <h2 style="margin:0">Logs</h2>
        <select aria-label="Service" @change=${(e: Event) => {
          const name = (e.target as HTMLSelectElement).value;
          if (this.live) this.open(name);
          else this.service = name;
        }}>
          ${services.map((name) => html`<option ?selected=${name === this.service}>${name}</option>`)}
        </select>
        <input type="search" placeholder="Search" aria-label="Search logs" @input=${(e: Event) => (this.search = (e.target as HTMLInputElement).value)} />
        <label><input type="checkbox" .checked=${this.follow} @change=${(e: Event) => (this.follow = (e.target as HTMLInputElement).checked)} /> Follow</label>
      </div>
      ${
        kept
          ? html`<p class="muted" data-kept=${kept.reason}>The last ${kept.lines.length} lines of ${kept.service}, kept when ${kept.reason === 'failed' ? 'its run failed' : 'it was deleted'} (${new Date(kept.keptAt).toLocaleString()}).</p>`
          : nothing
      }
      <pre class="logs" role="log">${
        shown.length
          ? shown.map(
              (l) =>
                html`<span class=${l.stream}><time datetime=${l.time} title=${l.time}>${timeOfDay(l.time)}</time>${l.line}\n</span>`,
            )
          : html`<span class="muted">${empty}</span>`
      }</pre>
      ${this.note ? html`<p class="muted" role="status">${this.note}</p>` : nothing}
    `;
  }
}

/** Transitions, actions and who made them (pipeline steps are in the progress list). */
@customElement('nullops-deployment-history')
export class DeploymentHistory extends DeploymentSection {
  @state() private items: DeploymentHistoryItem[] = [];

  protected override willUpdate(changed: PropertyValues<this>): void {
    if (changed.has('deployment') && this.deployment) void this.load(this.deployment.id);
  }

  private async load(id: string) {
    try {
      const { items } = await this.api.get<{ items: DeploymentHistoryItem[] }>(
        `/api/deployments/${id}/history`,
      );
      if (this.deployment?.id === id) this.items = items;
    } catch (err) {
      this.failed(err);
    }
  }

  override render() {
    return html`<h2>History</h2>
      <table>
        <thead><tr><th>When</th><th>What</th><th>Who</th></tr></thead>
        <tbody>
          ${this.items
            .filter((h) => !h.kind.startsWith('step.'))
            .map(
              (h) =>
                html`<tr><td>${new Date(h.at).toLocaleString()}</td><td>${h.kind}${h.message ? ` — ${localTimes(h.message)}` : ''}</td><td>${h.actorName ?? 'system'}</td></tr>`,
            )}
        </tbody>
      </table>`;
  }
}

/** Database backups of the project: take one of this deployment, restore one into it. */
@customElement('nullops-deployment-backups')
export class DeploymentBackups extends DeploymentSection {
  @state() private backups: DatabaseBackup[] = [];

  protected override willUpdate(changed: PropertyValues<this>): void {
    if (changed.has('deployment') && this.deployment?.databases.length) void this.load(this.deployment);
  }

  private async load(d: Deployment) {
    try {
      const { items } = await this.api.get<{ items: DatabaseBackup[] }>(
        `/api/projects/${d.projectId}/backups`,
      );
      if (this.deployment?.id === d.id) this.backups = items;
    } catch (err) {
      this.failed(err);
    }
  }

  private async operate(path: string, body: unknown) {
    try {
      await this.api.post(`/api/deployments/${this.deployment?.id}/${path}`, body);
      this.changed();
    } catch (err) {
      this.failed(err);
    }
  }

  override render() {
    const d = this.deployment;
    if (!d) return nothing;
    const can = this.access === 'full' && d.actions.includes('services');
    return html`
      <div class="row">
        <h2 style="margin:0">Backups</h2>
        ${can ? d.databases.map((db) => html`<button @click=${() => this.operate('backups', { service: db })}>Back up ${db}</button>`) : nothing}
      </div>
      ${
        this.backups.length
          ? html`<table>
              <thead><tr><th>Taken</th><th>Of</th><th>Service</th><th>Size</th><th></th></tr></thead>
              <tbody>${this.backups.map(
                (b) => html`<tr data-backup=${b.id}>
                  <td>${new Date(b.createdAt).toLocaleString()}</td>
                  <td>${b.deploymentName}${b.deploymentId === d.id ? ' (this one)' : ''}</td>
                  <td>${b.service}</td>
                  <td>${Math.ceil(b.bytes / 1024)} KiB</td>
                  <td>${
                    can
                      ? html`<button @click=${() => {
                          if (confirm(`Replace the data of ${b.service} in ${d.name} with this backup?`))
                            void this.operate('restore', { backupId: b.id });
                        }}>Restore here</button>`
                      : nothing
                  }</td>
                </tr>`,
              )}</tbody></table>`
          : html`<p class="muted">No backups of this project yet.${this.access === 'full' ? ' Back up a service’s data to restore it later, here or into another deployment of the project.' : ''}</p>`
      }
    `;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'nullops-deployment-logs': DeploymentLogs;
    'nullops-deployment-history': DeploymentHistory;
    'nullops-deployment-backups': DeploymentBackups;
  }
}
