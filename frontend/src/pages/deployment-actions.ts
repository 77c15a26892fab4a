import { html, nothing, type TemplateResult } from 'lit';
import type { Api } from '../api.js';
import type { Deployment } from './types.js';

export type DeploymentAction = 'extend' | 'retry' | 'delete';

/** Runs an action on a deployment; false when the user declined the delete confirmation. */
export async function runDeploymentAction(
  api: Api,
  d: Deployment,
  action: DeploymentAction,
): Promise<boolean> {
  if (action === 'delete') {
    if (!confirm(`Delete deployment ${d.name}? Its containers and data are removed.`)) return false;
    await api.delete(`/api/deployments/${d.id}`);
  } else {
    await api.post(`/api/deployments/${d.id}/${action}`);
  }
  return true;
}

/** The buttons a full-access user gets for a deployment in its state; `extra` goes before delete. */
export function actionButtons(
  d: Deployment,
  act: (action: DeploymentAction) => void,
  extra: TemplateResult | typeof nothing = nothing,
): TemplateResult {
  return html`
    ${d.state === 'running' || d.state === 'offline' ? html`<button @click=${() => act('extend')}>Extend</button>` : nothing}
    ${d.state === 'failed' ? html`<button @click=${() => act('retry')}>Retry</button>` : nothing}
    ${extra}
    ${
      d.state !== 'deleting' && d.state !== 'deleted'
        ? html`<button class="danger" @click=${() => act('delete')}>${d.state === 'deploying' ? 'Cancel' : 'Delete'}</button>`
        : nothing
    }`;
}
