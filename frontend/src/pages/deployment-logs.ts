import { css, html, nothing, type PropertyValues } from 'lit';
import { customElement, query, state } from 'lit/decorators.js';
import { timeOfDay } from '../format.js';
import { shared } from '../theme.js';
import { DeploymentSection } from './deployment-section.js';

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

declare global {
  interface HTMLElementTagNameMap {
    'nullops-deployment-logs': DeploymentLogs;
  }
}
