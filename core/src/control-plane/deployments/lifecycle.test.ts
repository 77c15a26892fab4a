import test from 'ava';
import type { DeploymentState } from '../models/fleet.js';
import {
  DEPLOYMENT_STATES,
  DESIRED_STATES,
  LIFECYCLE,
  type LifecycleEvent,
  nextState,
  RESERVING_STATES,
  ROUTED_STATES,
} from './lifecycle.js';

const EVENTS = Object.keys(LIFECYCLE) as LifecycleEvent[];

/**
 * The lifecycle as a user knows it, written out pair by pair: every (state, event) that moves a
 * deployment, and where to. Every other pair must be refused. Changing the table without changing
 * this list fails the walk below.
 */
const ALLOWED: Record<string, DeploymentState> = {
  'pending × accepted': 'deploying',
  'pending × succeeded': 'running',
  'pending × failed': 'failed',
  'deploying × succeeded': 'running',
  'deploying × failed': 'failed',
  'running × node-lost': 'offline',
  'degraded × node-lost': 'offline',
  'offline × node-back': 'running',
  'running × degraded': 'degraded',
  'offline × degraded': 'degraded',
  'failed × retried': 'pending',
  'running × redeployed': 'pending',
  'degraded × redeployed': 'pending',
  'offline × redeployed': 'pending',
  'deleting × removed': 'deleted',
  ...Object.fromEntries(
    ['pending', 'deploying', 'running', 'degraded', 'failed', 'offline'].flatMap((state) =>
      ['deleted', 'cancelled', 'expired'].map((event) => [`${state} × ${event}`, 'deleting']),
    ),
  ),
};

test('every (state, event) pair: the listed ones move the deployment there, all others are refused', (t) => {
  let walked = 0;
  for (const state of DEPLOYMENT_STATES)
    for (const event of EVENTS) {
      walked++;
      t.is(nextState(state, event), ALLOWED[`${state} × ${event}`], `${state} × ${event}`);
    }
  t.is(walked, DEPLOYMENT_STATES.length * EVENTS.length);
  t.is(Object.keys(ALLOWED).length, 33);
});

test('a deployment is born pending, and its pipeline is sent to its node', (t) => {
  t.is(LIFECYCLE.created.to, 'pending');
  t.deepEqual([...LIFECYCLE.created.from], []);
  t.true((LIFECYCLE.created.effects as readonly string[]).includes('dispatch'));
  t.true((LIFECYCLE.retried.effects as readonly string[]).includes('dispatch'));
  t.true((LIFECYCLE.redeployed.effects as readonly string[]).includes('dispatch'));
});

test('deleted is final; every other state has a way to deleted', (t) => {
  t.true(EVENTS.every((e) => nextState('deleted', e) === undefined));
  for (const state of DEPLOYMENT_STATES.filter((s) => s !== 'deleted')) {
    // Breadth-first over the table: deleted must be reachable from every live state.
    const seen = new Set<string>([state]);
    const queue: string[] = [state];
    while (queue.length) {
      const at = queue.shift() as (typeof DEPLOYMENT_STATES)[number];
      for (const e of EVENTS) {
        const to = nextState(at, e);
        if (to && !seen.has(to)) {
          seen.add(to);
          queue.push(to);
        }
      }
    }
    t.true(seen.has('deleted'), `${state} can reach deleted`);
  }
});

test('every event that takes routes away or brings them back refreshes the ingress; deletes tell the node', (t) => {
  for (const event of EVENTS) {
    const { from, to, effects } = LIFECYCLE[event] as {
      from: readonly string[];
      to: string;
      effects: readonly string[];
    };
    const routesBefore = from.some((s) => (ROUTED_STATES as readonly string[]).includes(s));
    const routesAfter = (ROUTED_STATES as readonly string[]).includes(to);
    if (routesBefore !== routesAfter || routesAfter)
      t.true(effects.includes('routes'), `${event} refreshes the ingress`);
    if (to === 'deleting') t.true(effects.includes('remove'), `${event} removes from the node`);
  }
});

test('the node is told about, and budgets are held by, exactly the states before deleted (and not failed)', (t) => {
  t.deepEqual([...DESIRED_STATES].sort(), [
    'degraded',
    'deleting',
    'deploying',
    'offline',
    'pending',
    'running',
  ]);
  t.deepEqual([...RESERVING_STATES].sort(), [...DESIRED_STATES].sort());
});
