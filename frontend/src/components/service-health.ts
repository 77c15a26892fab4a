import { html } from 'lit';
import type { Deployment } from '../pages/types.js';

type Service = Deployment['services'][number];

/** A service's live health in a few words: "running", "restarting (3×)", "crashed (exit 137)". */
export function healthLabel(s: Service): string {
  const h = s.health;
  if (!h) return s.status;
  if (h.condition === 'restarting') return `restarting (${h.restartCount}×)`;
  if (h.condition === 'crashed') return `crashed (exit ${h.exitCode ?? '?'})`;
  return h.condition;
}

/** The badge the deployment page and the list show per service; its whole reason (with the last log lines) is the tooltip. */
export function healthBadge(s: Service) {
  const condition = s.health?.condition ?? s.status;
  return html`<span class="state ${condition}" data-health=${condition} title=${s.health?.reason ?? ''}>${healthLabel(s)}</span>`;
}
