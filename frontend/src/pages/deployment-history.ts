import { html, type PropertyValues } from 'lit';
import { customElement, state } from 'lit/decorators.js';
import { localTimes } from '../format.js';
import { DeploymentSection } from './deployment-section.js';
import type { DeploymentHistoryItem } from './types.js';

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

declare global {
  interface HTMLElementTagNameMap {
    'nullops-deployment-history': DeploymentHistory;
  }
}
