import { html, nothing, type TemplateResult } from 'lit';
import type { Api } from '../api.js';
import type { Deployment } from './types.js';

export type DeploymentAction = 'extend' | 'retry' | 'redeploy' | 'delete';

/** How long Extend gives a deployment: its project's (or environment's) TTL, or these. */
const EXTEND_CHOICES: [label: string, hours: number | undefined][] = [
  ['by its TTL', undefined],
  ['by 1 hour', 1],
  ['by 8 hours', 8],
  ['by 1 day', 24],
  ['by 3 days', 72],
  ['by 1 week', 168],
];

/** Runs an action on a deployment; false when the user declined a confirmation. */
export async function runDeploymentAction(
  api: Api,
  d: Deployment,
  action: DeploymentAction,
  hours?: number,
): Promise<boolean> {
  if (action === 'delete') {
    const cancelling = d.actions.includes('cancel');
    if (
      !confirm(
        cancelling
          ? `Cancel deployment ${d.name}? Its pipeline stops and everything it started is rolled back.`
          : `Delete deployment ${d.name}? Its containers and data are removed.`,
      )
    )
      return false;
    await api.delete(`/api/deployments/${d.id}`);
  } else if (action === 'redeploy') {
    if (
      !confirm(
        `Redeploy ${d.name}? Everything it has on its node is removed and its pipeline runs again with the same versions: its URLs stay, its data starts over.`,
      )
    )
      return false;
    await api.post(`/api/deployments/${d.id}/redeploy`);
  } else if (action === 'extend') {
    await api.post(`/api/deployments/${d.id}/extend`, hours ? { hours } : {});
  } else {
    await api.post(`/api/deployments/${d.id}/${action}`);
  }
  return true;
}

/**
 * The buttons a full-access user gets for a deployment: what its state allows, as the server says
 * (`actions`); `extra` goes before delete.
 */
export function actionButtons(
  d: Deployment,
  act: (action: DeploymentAction, hours?: number) => void,
  extra: TemplateResult | typeof nothing = nothing,
): TemplateResult {
  const can = (action: Deployment['actions'][number]) => d.actions.includes(action);
  return html`
    ${
      can('extend')
        ? html`<span class="row" style="gap:0"><button @click=${(e: Event) => {
            const choice = (e.target as HTMLElement).nextElementSibling as HTMLSelectElement;
            act('extend', Number(choice.value) || undefined);
          }}>Extend</button><select aria-label="Extend ${d.name}">${EXTEND_CHOICES.map(
            ([label, hours]) => html`<option value=${hours ?? ''}>${label}</option>`,
          )}</select></span>`
        : nothing
    }
    ${can('retry') ? html`<button @click=${() => act('retry')}>Retry</button>` : nothing}
    ${can('redeploy') ? html`<button @click=${() => act('redeploy')} title="Remove what it has on its node and run its pipeline again, with the same versions and URLs">Redeploy</button>` : nothing}
    ${extra}
    ${
      can('cancel') || can('delete')
        ? html`<button class="danger" @click=${() => act('delete')}>${can('cancel') ? 'Cancel' : 'Delete'}</button>`
        : nothing
    }`;
}
