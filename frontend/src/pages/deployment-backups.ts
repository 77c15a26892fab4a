import { html, nothing, type PropertyValues } from 'lit';
import { customElement, state } from 'lit/decorators.js';
import { DeploymentSection } from './deployment-section.js';
import type { DatabaseBackup, Deployment } from './types.js';

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
    'nullops-deployment-backups': DeploymentBackups;
  }
}
