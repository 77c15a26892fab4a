/**
 * The deployment lifecycle, as one table: every event, the states it may happen in (its guard), the
 * state it leads to, and the effects that follow it. Every change of a deployment's state goes
 * through `Transitions.apply` with an event of this table, so a transition the table does not list
 * cannot be written.
 *
 *   created ──► pending ──accepted──► deploying ──succeeded──► running ──node-lost──► offline
 *                  │                      │                     │   ▲                     │
 *                  └───────failed─────────┴──failed──► failed   │   └──────node-back──────┘
 *                                                               └──degraded──► degraded
 *   any live state ──deleted / cancelled / expired──► deleting ──removed──► deleted
 *   failed ──retried──► pending;   running / degraded / offline ──redeployed──► pending
 */
export const DEPLOYMENT_STATES = [
  'pending',
  'deploying',
  'running',
  'degraded',
  'failed',
  'offline',
  'deleting',
  'deleted',
] as const;

export type DeploymentState = (typeof DEPLOYMENT_STATES)[number];

/** States a user can still delete from (everything before `deleting`). */
const LIVE = ['pending', 'deploying', 'running', 'degraded', 'failed', 'offline'] as const;

export const LIFECYCLE = {
  /** A new deployment, placed on a node: its pipeline goes to the node (now, or when it connects). */
  created: { from: [], to: 'pending', effects: ['dispatch'] },
  /** The node took the pipeline and runs it. */
  accepted: { from: ['pending'], to: 'deploying', effects: [] },
  /** The pipeline finished and every service runs (a node may report it before `accepted` arrives). */
  succeeded: { from: ['pending', 'deploying'], to: 'running', effects: ['routes'] },
  /** The pipeline failed (and was rolled back), or could not even be built. */
  failed: { from: ['pending', 'deploying'], to: 'failed', effects: [] },
  /** Its node was lost: routes go, services may still run there. */
  'node-lost': { from: ['running', 'degraded'], to: 'offline', effects: ['routes'] },
  /** Its node is back and verified the services. */
  'node-back': { from: ['offline'], to: 'running', effects: ['routes'] },
  /**
   * Its node cannot restore it to its spec (data a later step built is gone): what runs keeps
   * its routes; a redeploy is the way back.
   */
  degraded: { from: ['running', 'offline'], to: 'degraded', effects: ['routes'] },
  /** Deleted by a user (a deploying one is cancelled: rolled back). */
  deleted: { from: LIVE, to: 'deleting', effects: ['routes', 'remove'] },
  cancelled: { from: LIVE, to: 'deleting', effects: ['routes', 'remove'] },
  /** Its auto-cleanup time passed. */
  expired: { from: LIVE, to: 'deleting', effects: ['routes', 'remove'] },
  /** Its node removed everything it had. */
  removed: { from: ['deleting'], to: 'deleted', effects: [] },
  /** A failed deployment runs again, with the latest pipeline. */
  retried: { from: ['failed'], to: 'pending', effects: ['dispatch'] },
  /**
   * A live deployment is rebuilt: everything it has on its node is removed and its pipeline runs
   * again with the same tags, name and URLs (the way out of every stuck state).
   */
  redeployed: { from: ['running', 'degraded', 'offline'], to: 'pending', effects: ['routes', 'dispatch'] },
} as const satisfies Record<
  string,
  { from: readonly DeploymentState[]; to: DeploymentState; effects: readonly LifecycleEffect[] }
>;

/**
 * What follows a transition once it commits: `dispatch` hands the pipeline to the node, `remove`
 * tells the node to remove everything, `routes` rebuilds the ingress.
 */
export type LifecycleEffect = 'dispatch' | 'remove' | 'routes';

export type LifecycleEvent = keyof typeof LIFECYCLE;

/** States whose deployment still holds its budget on its node. */
export const RESERVING_STATES = [
  'pending',
  'deploying',
  'running',
  'degraded',
  'offline',
  'deleting',
] as const satisfies readonly DeploymentState[];

/** States an agent must know about (the node's desired state). */
export const DESIRED_STATES = [
  'pending',
  'deploying',
  'running',
  'degraded',
  'offline',
  'deleting',
] as const satisfies readonly DeploymentState[];

/** States whose services are up and hold routes in the ingress. */
export const ROUTED_STATES = ['running', 'degraded'] as const satisfies readonly DeploymentState[];

/** States whose pipeline should run on the node (a node that lost the run starts it again). */
export const RUNNING_PIPELINE_STATES = ['pending', 'deploying'] as const;

/** The states `event` may happen in. */
export function statesFor(event: LifecycleEvent): readonly DeploymentState[] {
  return LIFECYCLE[event].from;
}

/** Where `event` leads from `state`, or undefined when the table does not allow it there. */
export function nextState(state: DeploymentState, event: LifecycleEvent): DeploymentState | undefined {
  const rule = LIFECYCLE[event];
  return (rule.from as readonly DeploymentState[]).includes(state) ? rule.to : undefined;
}

/**
 * What users with full access may do to a deployment in each state — the one list the API view
 * carries (`actions`) and the web UI and CLI offer, so none of them keeps a list of its own.
 * `cancel` is a delete while the pipeline runs (it rolls back); `services` are day-2 actions.
 */
export const DEPLOYMENT_ACTIONS = {
  extend: ['pending', 'deploying', 'running', 'degraded', 'offline'],
  retry: LIFECYCLE.retried.from,
  redeploy: LIFECYCLE.redeployed.from,
  clone: DEPLOYMENT_STATES,
  cancel: ['pending', 'deploying'],
  delete: LIVE.filter((s) => s !== 'pending' && s !== 'deploying'),
  services: ROUTED_STATES,
} as const satisfies Record<string, readonly DeploymentState[]>;

export type DeploymentAction = keyof typeof DEPLOYMENT_ACTIONS;

/** The actions a deployment in `state` allows (to users with full access to it). */
export function allowedActions(state: DeploymentState): DeploymentAction[] {
  return (Object.keys(DEPLOYMENT_ACTIONS) as DeploymentAction[]).filter((action) =>
    (DEPLOYMENT_ACTIONS[action] as readonly DeploymentState[]).includes(state),
  );
}

/** Live: not on its way out or gone (its services may run, its timer counts down). */
export const isLive = (state: DeploymentState): boolean =>
  (LIVE as readonly DeploymentState[]).includes(state) && state !== 'failed';

/** Its services are up and its URLs in the ingress. */
export const holdsRoutes = (state: DeploymentState): boolean =>
  (ROUTED_STATES as readonly DeploymentState[]).includes(state);
