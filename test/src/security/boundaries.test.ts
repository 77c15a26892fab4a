import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { type AgentProcess, registerLocalNode, waitNodeReady } from '../helpers/agent-process.js';
import { ApiClient } from '../helpers/api-client.js';
import { containersOf, crashInside, ensureTestImages } from '../helpers/docker.js';
import { databasePipeline, execIn, psql } from '../helpers/postgres.js';
import { openEvents } from '../helpers/sse.js';
import { STACK_PASSWORD, type Stack, startStack } from '../helpers/stack.js';
import { eventually } from '../helpers/time.js';

// The security suite, part one: what a hostile team member with the least rights that should be
// refused tries against a real control plane and Docker agents, by area. Each test is the attack
// and the assertion that it is refused or contained.
//
// The fleet: project `bank` (stack's project) in environment `qa` (open to all) and `staging`
// (only the ops team: the admin); `builder` has full access to the project, `viewer` read access.

let s: Stack;
let stagingAgent: AgentProcess;
let staging: { id: string };
let builder: ApiClient;
let viewer: ApiClient;
const BOOT_SECRET = 's3cr3t-Token-XYZ';

const SCHEMA = "create table cards (number text not null); insert into cards values ('4111-0000-0000-0000');";

test.before(async () => {
  ensureTestImages();
  s = await startStack({
    prepare: (registry) => registry.pushWeb('team/web', 'v1', 'web v1'),
    services: [{ name: 'web', image: 'team/web', tag: 'v1' }],
    users: [
      { name: 'builder', access: 'full' },
      { name: 'viewer', access: 'read' },
    ],
  });
  const ops = await s.admin.expect(201, 'POST', '/api/teams', { name: 'ops' });
  staging = await s.admin.expect(201, 'POST', '/api/environments', {
    name: 'staging',
    baseDomain: 'staging.nullops.test',
    runtime: 'docker',
    defaultTtlSeconds: 3600,
    teams: [{ teamId: ops.id, access: 'full' }],
  });
  const registered = await registerLocalNode(s.admin, staging.id, 'staging-1');
  stagingAgent = registered.agent;
  await stagingAgent.start();
  await waitNodeReady(s.admin, registered.node.id);
  await s.admin.expect(201, 'POST', '/api/secrets', { name: 'BOOT', value: BOOT_SECRET });
  builder = await ApiClient.login(s.cp.url, 'builder', STACK_PASSWORD);
  viewer = await ApiClient.login(s.cp.url, 'viewer', STACK_PASSWORD);
});

test.after.always(async () => {
  await stagingAgent?.kill();
  await s?.stop();
});

const deployIn = async (client: ApiClient, environmentId: string, name: string) =>
  (
    await client.expect(201, 'POST', `/api/projects/${s.project.id}/deployments`, {
      environmentId,
      name,
      tags: {},
    })
  ).id as string;

const operation = (client: ApiClient, deploymentId: string, opId: string) =>
  eventually('the operation finished', async () => {
    const { items } = (await client.get(`/api/deployments/${deploymentId}/operations`)).body;
    const op = items.find((o: { id: string }) => o.id === opId);
    return op && (op.state === 'succeeded' || op.state === 'failed') && op;
  });

const backUp = async (client: ApiClient, deploymentId: string) => {
  const queued = await client.expect(202, 'POST', `/api/deployments/${deploymentId}/backups`, {});
  const done = await operation(client, deploymentId, queued.id);
  if (done.state !== 'succeeded') throw new Error(`backup failed: ${done.message}`);
  return (await client.get(`/api/deployments/${deploymentId}/backups`)).body.items[0] as { id: string };
};

/** Deletes deployments (as admin) and waits until they are gone: the node has room for the next test. */
const retire = async (...ids: string[]) => {
  for (const id of ids) await s.admin.expect(202, 'DELETE', `/api/deployments/${id}`);
  for (const id of ids)
    await eventually('the deployment is deleted', async () => {
      const res = await s.admin.get(`/api/deployments/${id}`);
      return res.status === 404 || res.body.state === 'deleted';
    });
};

const teamsOf = async (projectId: string) =>
  ((await s.admin.get(`/api/projects/${projectId}`)).body.teams as { teamId: string; access: string }[]).map(
    ({ teamId, access }) => ({ teamId, access }),
  );

const audit = async (action: string) =>
  (await s.admin.get(`/api/audit?action=${encodeURIComponent(action)}`)).body.items as {
    actorName: string;
    outcome: string;
    details: Record<string, unknown>;
  }[];

test.serial(
  'backups: a backup of an environment the caller may not read is not listed, downloadable or restorable; own ones are, audited',
  async (t) => {
    await s.savePipeline(databasePipeline(SCHEMA));
    const secret = await deployIn(s.admin, staging.id, 'vault');
    const mine = await deployIn(builder, s.env.id, 'mine');
    await s.until(secret, 'running');
    await s.until(mine, 'running');
    await psql(mine, 'delete from cards');
    const stagingBackup = await backUp(s.admin, secret);

    const listed = (await builder.get(`/api/projects/${s.project.id}/backups`)).body.items as {
      id: string;
    }[];
    t.false(
      listed.some((b) => b.id === stagingBackup.id),
      'the project list leaves out backups of deployments it may not read',
    );
    const download = await builder.request(
      'GET',
      `/api/deployments/${secret}/backups/${stagingBackup.id}/archive`,
    );
    t.true(download.status === 403 || download.status === 404, `download: ${download.status}`);
    const restore = await builder.request('POST', `/api/deployments/${mine}/restore`, {
      backupId: stagingBackup.id,
    });
    t.is(restore.status, 400);
    t.regex(restore.body.error.message, /body\.backupId: names no backup/);
    t.is(await psql(mine, 'select count(*) from cards'), '0', 'nothing of staging reached the deployment');

    // The builder's own backup: downloadable (the archive as made), and the read is audited.
    await psql(mine, "insert into cards values ('5500-0000-0000-0004')");
    const own = await backUp(builder, mine);
    const archive = await builder.request('GET', `/api/deployments/${mine}/backups/${own.id}/archive`);
    t.is(archive.status, 200);
    t.regex(archive.headers.get('content-disposition') ?? '', /attachment; filename="mine-db-/);
    const downloads = await audit('deployments.backups.download');
    t.true(downloads.some((e) => e.actorName === 'builder' && e.outcome === 'success'));

    // A restore's audit entry names its source.
    const queued = await builder.expect(202, 'POST', `/api/deployments/${mine}/restore`, {
      backupId: own.id,
    });
    t.is((await operation(builder, mine, queued.id)).state, 'succeeded');
    const [restored] = await audit('deployments.restore');
    t.like(restored?.details, { backupId: own.id, sourceDeploymentId: mine, sourceService: 'db' });
    await retire(secret, mine);
  },
);

test.serial(
  'backups: a dump planted with an event trigger, a SECURITY DEFINER function and COPY … PROGRAM restores without them, and the report says so',
  async (t) => {
    const [source, target] = [
      await deployIn(builder, s.env.id, 'planted'),
      await deployIn(builder, s.env.id, 'victim'),
    ];
    await s.until(source, 'running');
    await s.until(target, 'running');
    // What a user with the source's superuser password could plant there.
    await psql(
      source,
      `create function pwn() returns event_trigger language plpgsql as $$ begin copy (select 1) to program 'touch /tmp/pwned'; end $$;
       create function elevate() returns int language sql security definer as 'select 1';
       create event trigger pwn on ddl_command_end execute function pwn();`,
    );
    const backup = await backUp(builder, source);
    const queued = await builder.expect(202, 'POST', `/api/deployments/${target}/restore`, {
      backupId: backup.id,
    });
    const done = await operation(builder, target, queued.id);
    t.is(done.state, 'succeeded', done.message);
    t.regex(done.message, /from the backup: .*event trigger/i);
    t.is(await psql(target, 'select count(*) from cards'), '1', 'the data came across');
    t.is(await psql(target, 'select count(*) from pg_event_trigger'), '0', 'no event trigger');
    t.is(
      await psql(
        target,
        "select count(*) from pg_proc where prosecdef and pronamespace = 'public'::regnamespace",
      ),
      '0',
      'no SECURITY DEFINER function',
    );
    // DDL in the target would have fired the trigger: nothing runs.
    await psql(target, 'create table later (id int)');
    t.not((await execIn(target, 'db', ['test', '-e', '/tmp/pwned'])).code, 0, 'no program ran in the target');
    await retire(source, target);
  },
);

test.serial(
  'backups: the project limit refuses more, and deleting the project deletes the files',
  async (t) => {
    const project = await s.admin.expect(201, 'POST', '/api/projects', {
      name: 'throwaway',
      cpuMillicores: 100,
      memoryMb: 512,
      serviceIds: [],
      backupLimit: 1,
    });
    await s.admin.expect(201, 'POST', `/api/projects/${project.id}/pipeline/versions`, {
      graph: databasePipeline(SCHEMA),
    });
    const d = (
      await s.admin.expect(201, 'POST', `/api/projects/${project.id}/deployments`, {
        environmentId: s.env.id,
        name: 'limited',
        tags: {},
      })
    ).id as string;
    await s.until(d, 'running');
    await backUp(s.admin, d);
    const second = await s.admin.request('POST', `/api/deployments/${d}/backups`, {});
    t.is(second.status, 409);
    t.regex(second.body.error.message, /keeps at most 1 backups/);

    const { BackupStore } = await import('@nullops/core');
    const dir = join((s.cp.cp.container.resolve(BackupStore) as { dir: string }).dir, project.id);
    t.is((await readdir(dir)).length, 1);
    await retire(d);
    await s.admin.expect(204, 'DELETE', `/api/projects/${project.id}`);
    await eventually('the files are gone', async () =>
      readdir(dir).then(
        () => false,
        (err) => err.code === 'ENOENT',
      ),
    );
    t.pass('the project’s backup files went with it');
  },
);

test.serial(
  'secrets: a crash reason quoting a secret is masked for a read-only user, over SSE and the API, and still after the agent restarts',
  async (t) => {
    await s.savePipeline({
      nodes: [
        {
          id: 'web',
          type: 'container.service',
          params: {
            service: 'web',
            port: 80,
            env: { BOOT_TOKEN: '${secret:BOOT}' },
            command: ['sh', '-c', 'echo "boot token=$BOOT_TOKEN"; exec httpd -f -p 80 -h /www'],
          },
        },
      ],
      edges: [],
    });
    const id = await deployIn(builder, s.env.id, 'leaky');
    await s.until(id, 'running');
    const stream = await openEvents(viewer, `/api/deployments/${id}/events`);
    t.teardown(stream.close);

    const crashedReason = async () => {
      await crashInside(id);
      let seen: unknown;
      return eventually('the crash reaches the read-only user', async () => {
        const web = (await viewer.get(`/api/deployments/${id}`)).body.services.find(
          (x: { name: string }) => x.name === 'web',
        );
        seen = web?.health;
        return web?.health?.reason?.includes('boot token=') && web.health.reason;
      }).catch(async (err) => {
        const [container] = await containersOf(id, { all: true });
        throw new Error(
          `${err.message}; the viewer last saw ${JSON.stringify(seen)}; the container: ${JSON.stringify(container?.State)} ${container?.Status}`,
        );
      });
    };
    const first = await crashedReason();
    t.false(first.includes(BOOT_SECRET), first);
    await eventually('the health event arrived', async () =>
      stream.events.some((e) => JSON.stringify(e.data).includes('boot token=')),
    );
    t.false(JSON.stringify(stream.events).includes(BOOT_SECRET), 'nothing on the stream carries it');

    // The agent restarts: it knows no secrets until the control plane sends them again.
    await s.agent.kill();
    await s.agent.start();
    await waitNodeReady(s.admin, s.node.id);
    const again = await crashedReason();
    t.false(again.includes(BOOT_SECRET), again);
    const logs = await viewer.request('GET', `/api/deployments/${id}/logs?service=web&follow=false`);
    t.is(logs.status, 200);
    t.regex(String(logs.body), /boot token=/);
    t.false(String(logs.body).includes(BOOT_SECRET), 'log lines after the restart are masked too');
    t.false(JSON.stringify(stream.events).includes(BOOT_SECRET));
    stream.close();
    const reads = await audit('deployments.logs');
    t.true(
      reads.some((e) => e.actorName === 'viewer'),
      'reading logs is audited',
    );
  },
);

test.serial(
  'live streams: an open event stream closes when its user leaves the team, and when its token is revoked',
  async (t) => {
    const [id] = (await s.admin.get('/api/deployments')).body.items
      .filter(
        (d: { environmentId: string; state: string }) =>
          d.environmentId === s.env.id && d.state === 'running',
      )
      .map((d: { id: string }) => d.id);
    const watcher = await s.admin.expect(201, 'POST', '/api/users', {
      username: 'watcher',
      password: STACK_PASSWORD,
    });
    const team = await s.admin.expect(201, 'POST', '/api/teams', { name: 'watchers' });
    await s.admin.expect(204, 'PUT', `/api/teams/${team.id}/members/${watcher.id}`);
    await s.admin.request('PATCH', `/api/projects/${s.project.id}`, {
      teams: [...(await teamsOf(s.project.id)), { teamId: team.id, access: 'read' }],
    });
    const session = await ApiClient.login(s.cp.url, 'watcher', STACK_PASSWORD);
    const token = await session.expect(201, 'POST', '/api/auth/tokens', { name: 'portal', access: 'read' });
    const bySession = await openEvents(session, `/api/deployments/${id}/events`);
    const byToken = await openEvents(
      ApiClient.withToken(s.cp.url, token.token),
      `/api/deployments/${id}/events`,
    );
    t.teardown(() => {
      bySession.close();
      byToken.close();
    });

    await session.expect(204, 'DELETE', `/api/auth/tokens/${token.id}`);
    await byToken.ended;
    t.pass('the token’s stream closed on revocation');
    await s.admin.expect(204, 'DELETE', `/api/teams/${team.id}/members/${watcher.id}`);
    await bySession.ended;
    const after = bySession.events.length;
    await s.admin.expect(200, 'POST', `/api/deployments/${id}/extend`, {});
    t.is(bySession.events.length, after, 'and nothing more arrives');
    await retire(id as string);
  },
);

test.serial(
  'tokens: a project-scoped token sees and revokes only itself; an Idempotency-Key never answers for another project',
  async (t) => {
    const other = await s.admin.expect(201, 'POST', '/api/projects', {
      name: 'other',
      cpuMillicores: 100,
      memoryMb: 512,
      serviceIds: [],
      teams: await teamsOf(s.project.id),
    });
    const wide = await builder.expect(201, 'POST', '/api/auth/tokens', { name: 'laptop' });
    const scoped = await builder.expect(201, 'POST', '/api/auth/tokens', {
      name: 'ci',
      projectIds: [other.id],
    });
    const ci = ApiClient.withToken(s.cp.url, scoped.token);
    const seen = (await ci.get('/api/auth/tokens')).body.items.map((x: { id: string }) => x.id);
    t.deepEqual(seen, [scoped.id]);
    const revoke = await ci.request('DELETE', `/api/auth/tokens/${wide.id}`);
    t.is(revoke.status, 404);
    t.is(
      (await ApiClient.withToken(s.cp.url, wide.token).get('/api/auth/me')).status,
      200,
      'the other token still works',
    );

    // A deployment of the stack's project under a key; the same key in another project is not it.
    const key = 'ci-run-4711';
    const first = await builder.request(
      'POST',
      `/api/projects/${s.project.id}/deployments`,
      { environmentId: s.env.id, name: 'keyed', tags: {} },
      { 'idempotency-key': key },
    );
    t.is(first.status, 201);
    const replay = await ApiClient.withToken(s.cp.url, wide.token).request(
      'POST',
      `/api/projects/${other.id}/deployments`,
      { environmentId: s.env.id, name: 'keyed', tags: {} },
      { 'idempotency-key': key },
    );
    t.not(replay.body?.id, first.body.id, `replay: ${replay.status} ${JSON.stringify(replay.body)}`);
    t.not(replay.status, 200);
    await retire(first.body.id);
  },
);

test.serial(
  'quotas: a project or user over its quota gets 409 naming the quota; others are not affected',
  async (t) => {
    const live = (await s.admin.get(`/api/deployments?projectId=${s.project.id}`)).body.items.filter(
      (d: { state: string }) => d.state !== 'deleted' && d.state !== 'deleting',
    ).length;
    await s.admin.expect(200, 'PATCH', `/api/projects/${s.project.id}`, { quotaDeployments: live });
    const over = await builder.request('POST', `/api/projects/${s.project.id}/deployments`, {
      environmentId: s.env.id,
      name: 'one-too-many',
      tags: {},
    });
    t.is(over.status, 409);
    t.regex(over.body.error.message, /quota of project plugins allows at most \d+ live deployments/);
    await s.admin.expect(200, 'PATCH', `/api/projects/${s.project.id}`, { quotaDeployments: null });

    const me = (await builder.get('/api/auth/me')).body.user;
    await s.admin.expect(200, 'PATCH', `/api/users/${me.id}`, { quotaDeployments: 0 });
    const mine = await builder.request('POST', `/api/projects/${s.project.id}/deployments`, {
      environmentId: s.env.id,
      name: 'not-mine',
      tags: {},
    });
    t.is(mine.status, 409);
    t.regex(mine.body.error.message, /quota of your account \(builder\) allows at most 0 live deployments/);
    const admins = await s.admin.request('POST', `/api/projects/${s.project.id}/deployments`, {
      environmentId: s.env.id,
      name: 'admins-own',
      tags: {},
    });
    t.is(admins.status, 201, 'another user is not held by it');
    await retire(admins.body.id);
    await s.admin.expect(200, 'PATCH', `/api/users/${me.id}`, { quotaDeployments: null });
  },
);
