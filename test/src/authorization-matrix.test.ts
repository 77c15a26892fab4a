import type { AccessRule } from '@nullops/core';
import test from 'ava';
import { ROLES, type Role, seedAccessFixture } from './helpers/access-fixture.js';
import { startTestControlPlane } from './helpers/test-control-plane.js';

type Rule = AccessRule;

interface Operation {
  streaming: boolean;
  method: string;
  path: string;
  operationId: string;
  rule: Rule;
}

/** What the declared rule says a role may do; the fixture gives reader/fuller those levels on both scopes. */
function allowed(rule: Rule, role: Role): boolean {
  if (rule.kind === 'public') return true;
  if (role === 'anonymous') return false;
  if (role === 'admin' || rule.kind === 'authenticated') return true;
  if (rule.kind === 'admin') return false;
  if (role === 'fuller') return true;
  if (role === 'reader') return rule.level === 'read';
  return false;
}

function operations(document: any): Operation[] {
  const ops: Operation[] = [];
  for (const [path, methods] of Object.entries<Record<string, any>>(document.paths)) {
    for (const [method, op] of Object.entries<any>(methods)) {
      ops.push({
        method: method.toUpperCase(),
        path,
        operationId: op.operationId,
        rule: op['x-nullops-access'],
        streaming: Boolean(op.responses?.['200']?.content?.['text/event-stream']),
      });
    }
  }
  // Reads first, then writes, then deletes (deepest paths first), so a delete does not remove an
  // object a later cell needs.
  const rank = (o: Operation) => (o.method === 'GET' ? 0 : o.method === 'DELETE' ? 2 : 1);
  return ops.sort((a, b) => rank(a) - rank(b) || (rank(a) === 2 ? b.path.length - a.path.length : 0));
}

test('every route declares a known access rule naming a real path parameter', async (t) => {
  const cp = await startTestControlPlane();
  t.teardown(cp.close);
  const ops = operations(cp.cp.openapi());
  t.true(ops.length > 40, `expected the whole API, got ${ops.length} operations`);
  for (const op of ops) {
    t.truthy(op.rule, `${op.operationId} has no access rule`);
    t.true(
      ['public', 'authenticated', 'admin', 'scoped'].includes(op.rule.kind),
      `${op.operationId}: unknown rule`,
    );
    if (op.rule.kind === 'scoped') {
      t.true(
        op.path.includes(`{${op.rule.param}}`),
        `${op.operationId}: rule names {${op.rule.param}} not in path`,
      );
    }
  }
  // The policy itself, pinned: widening what non-admins may reach must be a deliberate change here.
  const describe = (r: AccessRule) => (r.kind === 'scoped' ? `${r.scope}:${r.level}` : r.kind);
  const nonAdmin = Object.fromEntries(
    ops.filter((o) => o.rule.kind !== 'admin').map((o) => [o.operationId, describe(o.rule)]),
  );
  t.deepEqual(nonAdmin, {
    'auth.login': 'public',
    'auth.sso.options': 'public',
    'auth.sso.start': 'public',
    'auth.sso.callback': 'public',
    'system.health': 'public',
    'system.ready': 'public',
    'system.metrics': 'public',
    'system.openapi': 'public',
    'auth.me': 'authenticated',
    'auth.access': 'authenticated',
    'auth.logout': 'authenticated',
    'auth.change-password': 'authenticated',
    'auth.tokens.list': 'authenticated',
    'auth.tokens.create': 'authenticated',
    'auth.tokens.revoke': 'authenticated',
    'environments.list': 'authenticated',
    'environments.get': 'environment:read',
    'projects.list': 'authenticated',
    'projects.get': 'project:read',
    'pipelines.latest': 'project:read',
    'pipelines.versions.list': 'project:read',
    'pipelines.versions.get': 'project:read',
    'deployments.tags': 'project:read',
    'deployments.list': 'authenticated',
    'deployments.live': 'authenticated',
    'deployments.create': 'project:full',
    'deployments.get': 'deployment:read',
    'deployments.history': 'deployment:read',
    'deployments.metrics': 'deployment:read',
    'deployments.events': 'deployment:read',
    'deployments.keptLogs': 'deployment:read',
    'deployments.logs': 'deployment:read',
    'deployments.delete': 'deployment:full',
    'deployments.cancel': 'deployment:full',
    'deployments.extend': 'deployment:full',
    'deployments.retry': 'deployment:full',
    'deployments.redeploy': 'deployment:full',
    'deployments.clone': 'deployment:full',
    'deployments.services.control': 'deployment:full',
    'deployments.operations': 'deployment:read',
    'deployments.backups.create': 'deployment:full',
    'deployments.backups.list': 'deployment:read',
    'deployments.backups.download': 'deployment:read',
    'deployments.backups.delete': 'deployment:full',
    'deployments.restore': 'deployment:full',
    'projects.backups.list': 'project:read',
    'ui.extensions.list': 'authenticated',
    'plugins.list': 'authenticated',
    'plugins.components': 'authenticated',
    'plugins.get': 'authenticated',
    // Plugin routes: signed-in users reach the dispatcher; a plugin's admin routes check again inside.
    'plugins.ext.get': 'authenticated',
    'plugins.ext.post': 'authenticated',
    'plugins.ext.put': 'authenticated',
    'plugins.ext.patch': 'authenticated',
    'plugins.ext.delete': 'authenticated',
  });
});

for (const role of ROLES) {
  test(`authorization matrix: ${role}`, async (t) => {
    const cp = await startTestControlPlane();
    t.teardown(cp.close);
    const fixture = await seedAccessFixture(cp);
    const client = fixture.clients[role];
    const failures: string[] = [];
    let checked = 0;
    for (const op of operations(cp.cp.openapi())) {
      const path = op.path.replace(/\{(\w+)\}/g, (_, name: string) => {
        const value = fixture.params[name];
        if (!value)
          throw new Error(`the matrix fixture has no value for path parameter {${name}} (${op.operationId})`);
        return value;
      });
      // Streams never end: only their status matters here, so the request is aborted after the headers.
      const res = op.streaming
        ? await client.request(op.method, `${path}?service=web`, undefined, {}, { headersOnly: true })
        : await client.request(
            op.method,
            path,
            op.method === 'GET' || op.method === 'DELETE' ? undefined : {},
          );
      const expectAllowed = allowed(op.rule, role);
      const denied = res.status === 401 || res.status === 403;
      checked++;
      // 503 is a dependency that is down (the fixture's registry does not exist): authorization passed.
      if (res.status >= 500 && res.status !== 503)
        failures.push(`${op.operationId}: ${res.status} ${JSON.stringify(res.body)}`);
      else if (expectAllowed && denied)
        failures.push(`${op.operationId}: expected allowed, got ${res.status}`);
      else if (!expectAllowed && res.status !== (role === 'anonymous' ? 401 : 403)) {
        failures.push(`${op.operationId}: expected ${role === 'anonymous' ? 401 : 403}, got ${res.status}`);
      }
    }
    t.deepEqual(
      failures,
      [],
      `${role}: ${failures.length} of ${checked} cells disagree with the declared rules`,
    );
  });
}
