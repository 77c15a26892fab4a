import { css, html, nothing } from 'lit';
import { customElement, state } from 'lit/decorators.js';
import { healthBadge } from '../components/service-health.js';
import type { Deployment } from '../pages/types.js';
import { shared, tokens } from '../theme.js';
import { Embedded } from './embedded.js';

/** The project's deployments: name, state, service links; refreshes every 5 s. */
@customElement('nullops-deployments')
export class EmbeddedDeployments extends Embedded {
  static override styles = [tokens, shared, css`:host { display: block; }`];
  @state() private items: Deployment[] | undefined;
  private timer: number | undefined;

  override connectedCallback(): void {
    super.connectedCallback();
    void this.load();
    this.timer = window.setInterval(() => void this.load(), 5000);
    this.ownerDocument.addEventListener('nullops-deployment-created', this.reload);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    clearInterval(this.timer);
    this.ownerDocument.removeEventListener('nullops-deployment-created', this.reload);
  }

  private readonly reload = () => void this.load();

  private async load() {
    try {
      this.items = (
        await this.client().get<{ items: Deployment[] }>(
          `/api/deployments?projectId=${encodeURIComponent(this.project)}`,
        )
      ).items;
      this.error = '';
    } catch (err) {
      this.error = (err as Error).message;
    }
  }

  override render() {
    if (this.error) return html`<p class="error" role="alert">NullOps: ${this.error}</p>`;
    if (!this.items) return html`<p class="muted">Loading deployments…</p>`;
    if (!this.items.length) return html`<p class="muted">No deployments.</p>`;
    return html`<table>
      <thead><tr><th>Deployment</th><th>State</th><th>Services</th></tr></thead>
      <tbody>
        ${this.items.map(
          (d) => html`<tr data-deployment=${d.name}>
            <td>${d.name}</td>
            <td><span class="state ${d.state}">${d.state}</span></td>
            <td>${d.actions.includes('services') ? d.services.map((s) => html`<a href=${s.url} target="_blank" rel="noopener">${s.name}</a> ${s.health && s.health.condition !== 'running' ? healthBadge(s) : nothing} `) : nothing}</td>
          </tr>`,
        )}
      </tbody>
    </table>`;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'nullops-deployments': EmbeddedDeployments;
  }
}
