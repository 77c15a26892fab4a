import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { IngressService } from '@nullops/core';
import test from 'ava';
import { waitNodeReady } from './helpers/agent-process.js';
import { ApiClient } from './helpers/api-client.js';
import { docker, ensureTestImages } from './helpers/docker.js';
import { viaIngress } from './helpers/ingress.js';
import { POSTGRES_IMAGE, psql } from './helpers/postgres.js';
import { STACK_PASSWORD, type Stack, startStack } from './helpers/stack.js';
import { eventually } from './helpers/time.js';

// Day-2 actions on a running deployment, on a real Docker agent: stop, start and restart one
// service through a persisted per-deployment queue; a stopped service stays stopped across an
// agent restart; read-only users cannot; the CLI does it too.

let s: Stack;
let id: string;

test.before(async () => {
  ensureTestImages();
  s = await startStack({
    prepare: (registry) => registry.pushWeb('team/web', 'v1', 'web v1'),
    services: [{ name: 'web', image: 'team/web', tag: 'v1' }],
    users: [{ name: 'viewer', access: 'read' }],
  });
  await s.savePipeline({
    nodes: [
      {
        id: 'web',
        type: 'container.service',
        params: { service: 'web', port: 80, healthCheck: { kind: 'http', path: '/' } },
      },
    ],
    edges: [],
  });
  id = await s.deploy('day2');
  await s.until(id, 'running');
});

test.after.always(async () => {
  await s?.stop();
});

const container = async () => {
  const [c] = await docker.listContainers({
    all: true,
    filters: { label: [`dev.nullops.deployment=${id}`] },
  });
  return docker.getContainer(c?.Id as string).inspect();
};
// The ingress of the control plane running now (a restart gives it a new port).
const ingressPort = () => (s.cp.cp.container.resolve(IngressService) as unknown as { port: number }).port;
const answers = async () => (await viaIngress(ingressPort(), s.host('web', 'day2'))).status === 200;
const operation = (opId: string) =>
  eventually(
    'the operation finished',
    async () => {
      const { items } = (await s.admin.get(`/api/deployments/${id}/operations`)).body;
      const op = items.find((o: { id: string }) => o.id === opId);
      return op && (op.state === 'succeeded' || op.state === 'failed') && op;
    },
    30_000,
  );
const serviceStatus = async () =>
  (await s.get(id)).services.find((x: { name: string }) => x.name === 'web').status;

test.serial(
  'stop keeps the container but takes the service down, and it stays stopped when the agent restarts; start brings it back',
  async (t) => {
    const stop = await s.admin.expect(202, 'POST', `/api/deployments/${id}/services/web/stop`);
    t.like(stop, { kind: 'service.stop', service: 'web', state: 'queued' });
    t.like(await operation(stop.id), { state: 'succeeded' });
    const stopped = await container();
    t.false(stopped.State.Running);
    t.is(await serviceStatus(), 'stopped');
    // Its URL says so, rather than that there is no such service.
    const down = await eventually('the URL saying it is stopped', async () => {
      const answer = await viaIngress(ingressPort(), s.host('web', 'day2'));
      return answer.status === 503 && answer;
    });
    t.regex(down.body, /^web at web\.day2\..* is stopped: start it from its deployment's page/);

    // The agent comes back and reconciles with the control plane: what a user stopped stays so.
    await s.agent.kill();
    await s.agent.start();
    await waitNodeReady(s.admin, s.node.id);
    await eventually(
      'reconciled',
      async () => s.agent.logged(/reconciled with the control plane/).length > 0,
    );
    t.false((await container()).State.Running, 'not brought back by the reconcile');
    t.is(stopped.Id, (await container()).Id);

    const start = await s.admin.expect(202, 'POST', `/api/deployments/${id}/services/web/start`);
    t.like(await operation(start.id), { state: 'succeeded' });
    await eventually('web answers again', answers);
    t.is(await serviceStatus(), 'running');
  },
);

test.serial(
  'operations queue in order behind each other; restart keeps the container; history says who did what',
  async (t) => {
    const before = await container();
    const queued = [];
    for (const action of ['stop', 'start', 'restart'])
      queued.push(await s.admin.expect(202, 'POST', `/api/deployments/${id}/services/web/${action}`));
    const done = await Promise.all(queued.map((op) => operation(op.id)));
    t.deepEqual(
      done.map((op) => op.state),
      ['succeeded', 'succeeded', 'succeeded'],
    );
    const finished = done.map((op) => Date.parse(op.finishedAt));
    t.deepEqual(
      finished,
      [...finished].sort((a, b) => a - b),
      'first in, first out',
    );
    const after = await container();
    t.is(after.Id, before.Id, 'the same container');
    t.not(after.State.StartedAt, before.State.StartedAt, 'started anew');
    await eventually('web answers', answers);

    const kinds = (await s.admin.get(`/api/deployments/${id}/history`)).body.items
      .filter((e: { kind: string }) => /^service\.|^operation\./.test(e.kind))
      .map((e: { kind: string; actorName: string }) => `${e.kind} by ${e.actorName}`);
    for (const kind of ['service.stopped', 'service.started', 'service.restarted', 'operation.queued'])
      t.true(kinds.includes(`${kind} by admin`), `${kind}: ${kinds.join(', ')}`);
  },
);

test.serial(
  'the queue is persisted: an operation waiting for its offline node survives a control-plane restart and runs once the node is back',
  async (t) => {
    const before = await container();
    await s.agent.kill();
    await eventually(
      'node offline',
      async () => (await s.admin.get(`/api/nodes/${s.node.id}`)).body.status !== 'online',
    );
    const op = await s.admin.expect(202, 'POST', `/api/deployments/${id}/services/web/restart`);
    const waiting = await eventually('waiting for the node', async () => {
      const found = (await s.admin.get(`/api/deployments/${id}/operations`)).body.items.find(
        (o: { id: string }) => o.id === op.id,
      );
      return found?.message?.startsWith('waiting: node') && found;
    });
    t.is(waiting.state, 'queued');
    // A new control-plane process on the same database: nothing of the queue lives in memory.
    await s.cp.restart();
    await s.agent.start();
    t.like(await operation(op.id), { state: 'succeeded' });
    t.not((await container()).State.StartedAt, before.State.StartedAt, 'restarted once the node was back');
  },
);

test.serial('read-only users and unknown services are refused, nothing is queued', async (t) => {
  const viewer = await ApiClient.login(s.cp.url, 'viewer', STACK_PASSWORD);
  const before = (await s.admin.get(`/api/deployments/${id}/operations`)).body.items.length;
  t.is((await viewer.request('POST', `/api/deployments/${id}/services/web/restart`)).status, 403);
  t.is((await viewer.get(`/api/deployments/${id}/operations`)).status, 200, 'but they can see them');
  const ghost = await s.admin.request('POST', `/api/deployments/${id}/services/ghost/restart`);
  t.is(ghost.status, 400);
  t.regex(ghost.body.error.message, /params\.service: is not a service of day2 \(it has web\)/);
  const bad = await s.admin.request('POST', `/api/deployments/${id}/services/web/explode`);
  t.is(bad.status, 400);
  t.is((await s.admin.get(`/api/deployments/${id}/operations`)).body.items.length, before);
});

test.serial('nullops restart waits for the result', async (t) => {
  const { token } = await s.admin.expect(201, 'POST', '/api/auth/tokens', { name: 'cli', access: 'full' });
  const { stdout, stderr } = await promisify(execFile)(
    resolve('node_modules/.bin/nullops'),
    ['restart', 'day2', 'web'],
    { env: { PATH: process.env.PATH, NULLOPS_URL: s.cp.url, NULLOPS_TOKEN: token } },
  );
  t.regex(stdout, /^restart web: succeeded \(web restarted \(now running\)\)/);
  t.regex(stderr, /restart web: queued/);
  await eventually('web answers', answers);
});

const names = (deploymentId: string) =>
  psql(deploymentId, "select string_agg(name, ',' order by id) from greetings");

test.serial(
  'a database is backed up, restored over later changes, and restored into another deployment of the project',
  async (t) => {
    await s.savePipeline({
      nodes: [
        {
          id: 'db',
          type: 'postgres.database',
          params: { image: POSTGRES_IMAGE, database: 'shop', user: 'shop' },
        },
        {
          id: 'schema',
          type: 'postgres.sql',
          params: {
            connectionString: '${output:db.connectionString}',
            image: POSTGRES_IMAGE,
            sql: "create table greetings (id serial primary key, name text not null); insert into greetings (name) values ('alpha'), ('beta');",
          },
        },
        { id: 'web', type: 'container.service', params: { service: 'web', port: 80 } },
      ],
      edges: [
        { from: 'db', to: 'schema' },
        { from: 'schema', to: 'web' },
      ],
    });
    const source = await s.deploy('with-db');
    await s.until(source, 'running');
    await psql(source, "insert into greetings (name) values ('gamma')");
    t.is(await names(source), 'alpha,beta,gamma');

    const backup = await s.admin.expect(202, 'POST', `/api/deployments/${source}/backups`, {});
    t.like(backup, { kind: 'database.backup', service: 'db' });
    const done = await eventually('backed up', async () => {
      const op = (await s.admin.get(`/api/deployments/${source}/operations`)).body.items[0];
      return op.state !== 'queued' && op.state !== 'running' && op;
    });
    t.is(done.state, 'succeeded', done.message);
    const [kept] = (await s.admin.get(`/api/deployments/${source}/backups`)).body.items;
    t.like(kept, { service: 'db', nodeType: 'postgres.database' });
    t.true(kept.bytes > 100);
    // At rest it is encrypted: neither a gzip nor the rows in it are there to read.
    const { BackupStore } = await import('@nullops/core');
    const dir = (s.cp.cp.container.resolve(BackupStore) as { dir: string }).dir;
    const file = await readFile(join(dir, s.project.id, `${kept.id}.bak`));
    t.false(file.subarray(0, 2).equals(Buffer.from([0x1f, 0x8b])), 'not a plain gzip');
    t.throws(() => gunzipSync(file));
    t.false(file.includes('gamma'));

    // Later changes are undone by restoring the backup into the same deployment.
    await psql(
      source,
      "delete from greetings where name = 'alpha'; insert into greetings (name) values ('delta')",
    );
    const undo = await s.admin.expect(202, 'POST', `/api/deployments/${source}/restore`, {
      backupId: kept.id,
    });
    const undone = await operationOf(source, undo.id);
    t.is(undone.state, 'succeeded', undone.message);
    t.is(await names(source), 'alpha,beta,gamma');

    // Clone with data: another deployment of the project gets the same rows.
    const copy = await s.deploy('with-db-copy');
    await s.until(copy, 'running');
    t.is(await names(copy), 'alpha,beta');
    const cloned = await s.admin.expect(202, 'POST', `/api/deployments/${copy}/restore`, {
      backupId: kept.id,
    });
    const restored = await operationOf(copy, cloned.id);
    t.is(restored.state, 'succeeded', restored.message);
    t.is(await names(copy), 'alpha,beta,gamma');

    const kinds = (await s.admin.get(`/api/deployments/${copy}/history`)).body.items.map(
      (e: { kind: string }) => e.kind,
    );
    t.true(kinds.includes('database.restored'));

    // Refusals: no database in the deployment, a backup that does not exist.
    const noDb = await s.admin.request('POST', `/api/deployments/${id}/backups`, {});
    t.is(noDb.status, 409);
    t.regex(noDb.body.error.message, /keeps no data that can be backed up/);
    const ghost = await s.admin.request('POST', `/api/deployments/${copy}/restore`, {
      backupId: '00000000-0000-4000-8000-000000000000',
    });
    t.is(ghost.status, 400);
    t.regex(ghost.body.error.message, /body\.backupId: names no backup/);

    await s.admin.expect(204, 'DELETE', `/api/deployments/${source}/backups/${kept.id}`);
    t.deepEqual((await s.admin.get(`/api/deployments/${source}/backups`)).body.items, []);
    for (const d of [source, copy]) await s.admin.expect(202, 'DELETE', `/api/deployments/${d}`);
  },
);

const operationOf = (deploymentId: string, opId: string) =>
  eventually('the operation finished', async () => {
    const { items } = (await s.admin.get(`/api/deployments/${deploymentId}/operations`)).body;
    const op = items.find((o: { id: string }) => o.id === opId);
    return op && (op.state === 'succeeded' || op.state === 'failed') && op;
  });
