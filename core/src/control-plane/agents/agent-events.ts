import { EventEmitter } from 'node:events';
import type { ActualDeployment, EventSchemas } from '@nullops/plugin-sdk';
import type { z } from 'zod';
import type { AgentLink } from './agent-link.js';

type Data<E extends keyof typeof EventSchemas> = z.infer<(typeof EventSchemas)[E]>;

/** What agents tell the control plane, for the services that act on it (deployments, ingress, logs). */
export interface AgentEventMap {
  /** A node's agent connected and passed the checks (trust, runtime, protocol). */
  'node.connected': [nodeId: string, link: AgentLink];
  /** A node reconciled on (re)connect; `actual` covers every deployment it was sent. */
  'node.synced': [nodeId: string, actual: ActualDeployment[], sentDeleting: string[]];
  'pipeline.step': [nodeId: string, step: Data<'pipeline.step'>];
  'deployment.finished': [nodeId: string, actual: ActualDeployment];
  'log.line': [nodeId: string, line: Data<'log.line'>];
  'log.end': [nodeId: string, end: Data<'log.end'>];
  'services.health': [nodeId: string, report: Data<'services.health'>];
  'deployment.repaired': [nodeId: string, repair: Data<'deployment.repaired'>];
  'deployment.degraded': [nodeId: string, report: Data<'deployment.degraded'>];
}

/** One bus per control plane; the connection manager publishes, services subscribe. */
export class AgentEvents extends EventEmitter<AgentEventMap> {
  constructor() {
    super();
    // Every SSE log viewer subscribes; the default warning at 10 listeners would be noise.
    this.setMaxListeners(0);
  }
}
