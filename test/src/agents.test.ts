import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpsServer, request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadOrCreateCertificate } from '@nullops/agent-host';
import { Outbox, placeDeployment, Refs } from '@nullops/core';
import type { ServiceSpec } from '@nullops/plugin-sdk';
import test, { type ExecutionContext } from 'ava';
import { WebSocketServer } from 'ws';
import { registerSimulated, startSimulators } from './bench/simulators.js';
import { AgentProcess, registerLocalNode } from './helpers/agent-process.js';
import { docker, ensureTestImages, removeLabelled, webService } from './helpers/docker.js';
import { startTestControlPlane } from './helpers/test-control-plane.js';
import { eventually } from './helpers/time.js';

test.before(() => ensureTestImages());

const FAST = {
  NULLOPS_AGENT_RECONNECT_BASE_MS: '100',
  NULLOPS_AGENT_RECONNECT_MAX_MS: '400',
  NULLOPS_AGENT_CONNECT_TIMEOUT_MS: '3000',
};

/** A control plane with one environment and one node, and an agent process (not yet started) for it. */
async function setup(t: ExecutionContext) {
  const cp = await startTestControlPlane(FAST);
  const { admin } = cp;
  const env = await admin.expect(201, 'POST', '/api/environments', {
    name: 'qa',
    baseDomain: 'qa.localhost',
    runtime: 'docker',
    defaultTtlSeconds: 3600,
  });
  const { node, dataDir, agent } = await registerLocalNode(admin, env.id);
  const deployments: string[] = [];
  t.teardown(async () => {
    await agent.kill();
    await cp.close();
    await removeLabelled(docker, deployments);
    await rm(dataDir, { recursive: true, force: true });
  });
  const nodeView = async () => (await admin.get(`/api/nodes/${node.id}`)).body;
  const status = (wanted: string) =>
    eventually(`node ${wanted}`, async () => ((await nodeView()).status === wanted ? nodeView() : undefined));
  /** Records a running deployment with these services on the node (as a finished pipeline would). */
  const deployment = async (services: ServiceSpec[]) => {
    const project = await admin.expect(201, 'POST', '/api/projects', {
      name: `p-${randomUUID().slice(0, 8)}`,
      cpuMillicores: 1000,
      memoryMb: 512,
    });
    const id = randomUUID();
    deployments.push(id);
    await cp.database.db('deployments').insert({
      id,
      name: `d-${id.slice(0, 8)}`,
      projectId: project.id,
      environmentId: env.id,
      nodeId: node.id,
      state: 'running',
      services: JSON.stringify(services),
      cpuMillicores: 1000,
      memoryMb: 512,
    });
    return id;
  };
  const syncs = () => agent.logged(/reconciled with the control plane/).length;
  /** Makes the control plane reconnect (a new address does) and waits for the agent to reconcile. */
  const resync = async () => {
    const before = syncs();
    const { host } = await nodeView();
    await admin.expect(200, 'PATCH', `/api/nodes/${node.id}`, {
      host: host === '127.0.0.1' ? 'localhost' : '127.0.0.1',
    });
    await eventually('a new sync', async () => syncs() > before);
  };
  const containers = (id: string) =>
    docker.listContainers({ all: true, filters: { label: [`dev.nullops.deployment=${id}`] } });
  return { cp, admin, env, node, agent, dataDir, nodeView, status, deployment, syncs, resync, containers };
}

test.serial(
  'an agent and the control plane connect over TLS; the node goes online with metrics',
  async (t) => {
    const s = await setup(t);
    // The first attempt follows the node's creation (once it has committed): nothing listens yet.
    t.regex((await s.status('offline')).statusMessage ?? '', /ECONNREFUSED|connect/i, 'nothing listens yet');
    await s.agent.start();
    const online = await s.status('online');
    t.is(online.thumbprint, s.agent.thumbprint, 'the certificate was pinned on first contact');
    t.regex(online.agentVersion, /^\d+\.\d+\.\d+/);
    const beat = await eventually('a heartbeat with metrics', async () => {
      const n = await s.nodeView();
      return n.capacity && n.usage?.host ? n : undefined;
    });
    t.true(beat.capacity.cpuMillicores >= 1000);
    t.true(beat.usage.host.memoryTotalMb > 0);
    t.truthy(beat.lastHeartbeatAt);
  },
);

test.serial('a wrong token is refused and logged', async (t) => {
  const s = await setup(t);
  const impostor = new AgentProcess({
    ...s.agent.options,
    token: 'noa_this-is-not-the-token-you-are-looking-for',
  });
  await impostor.start();
  t.teardown(() => impostor.kill());
  const refused = await eventually('a refusal', async () => {
    const n = await s.nodeView();
    return n.statusMessage?.includes('refused the token') ? n : undefined;
  });
  t.is(refused.status, 'offline');
  t.true(impostor.logged(/refused a control-plane connection/).length > 0);
  t.true(impostor.logged(/refused a control-plane connection/).every((l) => l.proofPresented === true));
  t.false(JSON.stringify(impostor.lines).includes(s.node.token), 'the agent never logs the token');
});

test.serial(
  "first contact: an impostor answering at a new node's address is not pinned and never sees the token",
  async (t) => {
    const s = await setup(t);
    // Something else listens where the agent should be, and accepts any upgrade.
    const certDir = await mkdtemp(join(tmpdir(), 'nullops-impostor-'));
    const cert = await loadOrCreateCertificate(certDir);
    const seen: string[] = [];
    const server = createHttpsServer({ cert: cert.cert, key: cert.key });
    const wss = new WebSocketServer({ server });
    wss.on('connection', (ws, req) => {
      seen.push(JSON.stringify(req.headers));
      ws.send(JSON.stringify({ type: 'event', event: 'hello', data: { protocolVersion: 1 } }));
    });
    await new Promise<void>((ok) => server.listen(s.agent.options.port, '127.0.0.1', ok));
    t.teardown(async () => {
      server.closeAllConnections();
      await new Promise((ok) => server.close(ok));
      await rm(certDir, { recursive: true, force: true });
    });

    const refused = await s.status('untrusted');
    t.regex(refused.statusMessage, /could not prove it holds this node's token/);
    t.is(refused.thumbprint, null, 'nothing pinned');
    t.is(refused.pendingThumbprint, null, 'nothing offered for approval either');
    t.true(seen.length > 0, 'the impostor was reached');
    t.false(seen.join('\n').includes(s.node.token), 'the token never crossed the wire');

    // The real agent takes the address: it proves itself, and its certificate is pinned.
    server.closeAllConnections();
    await new Promise((ok) => server.close(ok));
    await s.agent.start();
    const online = await s.status('online');
    t.is(online.thumbprint, s.agent.thumbprint);
    t.not(online.thumbprint, cert.thumbprint);
  },
);

test.serial(
  'a regenerated agent certificate makes the node untrusted without sending the token; approval brings it back',
  async (t) => {
    const s = await setup(t);
    await s.agent.start();
    const first = await s.status('online');
    await s.agent.kill();
    await rm(join(s.dataDir, 'agent.crt'));
    await rm(join(s.dataDir, 'agent.key'));
    const impostor = new AgentProcess(s.agent.options);
    await impostor.start();
    t.teardown(() => impostor.kill());
    t.not(impostor.thumbprint, first.thumbprint);

    const untrusted = await s.status('untrusted');
    t.is(untrusted.thumbprint, first.thumbprint, 'the pinned thumbprint is unchanged');
    t.is(untrusted.pendingThumbprint, impostor.thumbprint);
    // An upgrade request of our own, with no proof: the new agent logs its refusal. Its log is one
    // ordered stream, so once that line is there, any request the control plane had made before
    // it would have been logged above it.
    await new Promise<void>((done) =>
      httpsRequest(`https://127.0.0.1:${s.agent.options.port}/ws`, {
        rejectUnauthorized: false,
        headers: {
          connection: 'Upgrade',
          upgrade: 'websocket',
          'sec-websocket-version': '13',
          'sec-websocket-key': randomBytes(16).toString('base64'),
        },
      })
        .on('response', () => done())
        .on('upgrade', () => done())
        .on('error', () => done())
        .end(),
    );
    await eventually(
      'our probe refused',
      async () => impostor.logged(/refused a control-plane connection/).length,
    );
    t.is(
      impostor.logged(/control plane authenticated|refused a control-plane connection/).length,
      1,
      'no upgrade request but ours, so no token, ever reached the new agent',
    );

    await s.admin.expect(200, 'POST', `/api/nodes/${s.node.id}/thumbprint/approve`, {
      thumbprint: impostor.thumbprint,
    });
    const back = await s.status('online');
    t.is(back.thumbprint, impostor.thumbprint);
    t.is(impostor.logged(/control plane authenticated/).length, 1);
  },
);

test.serial(
  'SIGKILL of the agent leaves services running; on restart nothing is restarted or duplicated',
  async (t) => {
    const s = await setup(t);
    const id = await s.deployment([webService('web', 'kill-test'), webService('api', 'api')]);
    await s.agent.start();
    await s.status('online');
    const before = await eventually('two running containers', async () => {
      const list = await s.containers(id);
      return list.length === 2 && list.every((c) => c.State === 'running') ? list : undefined;
    });
    const started = await Promise.all(
      before.map(async (c) => [c.Id, (await docker.getContainer(c.Id).inspect()).State.StartedAt]),
    );

    await s.agent.kill('SIGKILL');
    await s.status('offline');
    const offline = await s.cp.database.db('deployments').where('id', id).first();
    t.is(offline.state, 'offline', 'the node’s deployments go offline with it');
    t.true(
      (await s.containers(id)).every((c) => c.State === 'running'),
      'containers keep running without the agent',
    );

    const syncsBefore = s.syncs();
    await s.agent.start();
    await s.status('online');
    await eventually('a sync after restart', async () => s.syncs() > syncsBefore);
    const after = await s.containers(id);
    t.is(after.length, 2, 'nothing duplicated');
    const startedAfter = await Promise.all(
      after.map(async (c) => [c.Id, (await docker.getContainer(c.Id).inspect()).State.StartedAt]),
    );
    t.deepEqual(startedAfter.sort(), started.sort(), 'same containers, same start times: nothing restarted');
    t.deepEqual(
      s.agent
        .logged(/reconciled/)
        .at(-1)
        ?.report?.kept?.sort(),
      [`d-${id.slice(0, 8)}/api`, `d-${id.slice(0, 8)}/web`],
    );
    await eventually(
      'the deployment running again',
      async () => (await s.cp.database.db('deployments').where('id', id).first()).state === 'running',
    );
    t.pass();
  },
);

test.serial(
  'between syncs, a service stopped or removed behind NullOps’ back is brought back at once, and its history says so',
  async (t) => {
    const s = await setup(t);
    const id = await s.deployment([webService('web', 'w'), webService('api', 'a')]);
    await s.agent.start();
    await s.status('online');
    await eventually('the first reconcile', async () => s.syncs() > 0);
    const [web, api] = await eventually('containers', async () => {
      const list = await s.containers(id);
      return list.length === 2
        ? ['web', 'api'].map((n) => list.find((c) => c.Labels['dev.nullops.service'] === n))
        : undefined;
    });
    const repairs = async () =>
      (
        (await s.admin.get(`/api/deployments/${id}/history`)).body.items as {
          kind: string;
          message: string;
        }[]
      )
        .filter((h) => h.kind === 'repaired')
        .map((h) => h.message);
    // The first sync made both from their recorded specs (the history says so too).
    const before = (await eventually('the first repairs recorded', async () => {
      const found = await repairs();
      return found.length === 2 ? found : undefined;
    })) as string[];
    const syncs = s.syncs();
    await docker.getContainer(web?.Id as string).stop({ t: 1 });
    await docker.getContainer(api?.Id as string).remove({ force: true });

    const repaired = await eventually('both repaired in the history', async () => {
      const messages = (await repairs()).slice(before.length);
      return messages.length >= 2 ? messages.sort() : undefined;
    });
    t.deepEqual(repaired, ['api was gone; recreated', 'web had stopped; started again']);
    const list = await s.containers(id);
    t.is(list.length, 2);
    t.true(list.every((c) => c.State === 'running'));
    t.is(
      list.find((c) => c.Labels['dev.nullops.service'] === 'web')?.Id,
      web?.Id,
      'the stopped one kept its identity',
    );
    t.is(s.syncs(), syncs, 'no reconnect, no sync: the agent repaired it by itself');
    t.is((await s.nodeView()).status, 'online');
  },
);

test.serial(
  'reconcile removes unknown resources of its own installation and node, and never touches anyone else’s',
  async (t) => {
    const s = await setup(t);
    await s.agent.start();
    await s.status('online');
    await eventually('the first reconcile', async () => s.syncs() > 0);
    const { id: installationId } = await s.cp.database.db('installation').first('id');
    /** Resources of a deployment nobody here knows, labelled for `owner`. */
    const resources = async (owner: { installation: string; node: string }) => {
      const deployment = randomUUID();
      const labels = {
        'dev.nullops.managed': 'true',
        'dev.nullops.installation': owner.installation,
        'dev.nullops.node': owner.node,
        'dev.nullops.deployment': deployment,
      };
      await docker.createNetwork({ Name: `nullops-${deployment}`, Labels: labels });
      await docker.createVolume({ Name: `nullops-${deployment}-data`, Labels: labels });
      const container = await docker.createContainer({
        Image: 'nullops-test/busybox:1',
        Cmd: ['sleep', '600'],
        Labels: labels,
        HostConfig: { NetworkMode: `nullops-${deployment}`, Init: true },
      });
      await container.start();
      return deployment;
    };
    // A zombie of its own; another installation's deployment on the same node id; another node's
    // of this installation; one of an older agent, without owner labels.
    const zombie = await resources({ installation: installationId, node: s.node.id });
    const others = [
      await resources({ installation: randomUUID(), node: s.node.id }),
      await resources({ installation: installationId, node: randomUUID() }),
    ];
    t.teardown(() => removeLabelled(docker, others));

    await s.resync();
    const report = s.agent.logged(/reconciled/).at(-1)?.report;
    t.deepEqual(report.removedDeployments, [zombie]);
    const left = async (deployment: string) => {
      const filters = { label: [`dev.nullops.deployment=${deployment}`] };
      return (
        (await docker.listContainers({ all: true, filters })).length +
        (await docker.listNetworks({ filters })).length +
        ((await docker.listVolumes({ filters })).Volumes ?? []).length
      );
    };
    t.is(await left(zombie), 0);
    for (const other of others) t.is(await left(other), 3, 'someone else’s: all three kept');
  },
);

test.serial(
  'a desired state of several MiB reaches an agent that takes 1 MiB messages, in pages',
  async (t) => {
    const s = await setup(t);
    const big = () => Object.fromEntries([1, 2, 3, 4].map((i) => [`BLOB_${i}`, 'x'.repeat(60_000)]));
    const ids: string[] = [];
    for (let i = 0; i < 12; i++)
      ids.push(await s.deployment([webService('web', `big ${i}`, { env: big() })]));
    await s.agent.start();
    await s.status('online');
    const synced = await eventually('a sync of all twelve', async () =>
      s.agent.logged(/reconciled with the control plane/).find((l) => l.deployments === 12),
    );
    t.is(synced.report.recreated.length, 12, 'every service started from its recorded spec');
    for (const id of ids) {
      const [c] = await s.containers(id);
      t.is(c?.State, 'running');
      const env = (await docker.getContainer(c?.Id as string).inspect()).Config.Env;
      t.true(env.includes(`BLOB_4=${'x'.repeat(60_000)}`), 'the values arrived whole');
    }
    // The control plane took the agent's answer (a failed sync would drop the link instead).
    await eventually('the control plane reconciled', async () =>
      s.cp.logs.some((l) => /node reconciled/.test(l)),
    );
    t.is((await s.nodeView()).status, 'online', 'no reconnect loop');
    t.is(s.agent.logged(/control plane authenticated/).length, 1, 'one connection, never dropped');
    t.true(
      s.cp.logs.some((l) => /desired state sent in pages/.test(l)),
      'the state did not fit one message',
    );
  },
);

test.serial('a deleted or corrupt state file is rebuilt from the control plane', async (t) => {
  const s = await setup(t);
  const id = await s.deployment([webService('web', 'state')]);
  await s.agent.start();
  await s.status('online');
  await eventually(
    'the state file',
    async () => JSON.parse(await readFile(join(s.dataDir, 'state.json'), 'utf8')).deployments.length === 1,
  );
  const containerBefore = (await s.containers(id))[0]?.Id;

  await s.agent.kill();
  await rm(join(s.dataDir, 'state.json'));
  await s.agent.start();
  await s.status('online');
  const rebuilt = await eventually('a rebuilt state file', async () => {
    const state = JSON.parse(await readFile(join(s.dataDir, 'state.json'), 'utf8'));
    return state.deployments.length ? state : undefined;
  });
  t.deepEqual(
    rebuilt.deployments.map((d: { desired: { id: string } }) => d.desired.id),
    [id],
  );
  t.deepEqual(rebuilt.deployments[0].specs, [webService('web', 'state')]);
  t.is((await s.containers(id))[0]?.Id, containerBefore, 'the running service was kept');

  await s.agent.kill();
  await writeFile(join(s.dataDir, 'state.json'), '{"version":1,"deploym');
  await s.agent.start();
  t.true(s.agent.logged(/corrupt; discarding/).length > 0);
  await s.status('online');
  await eventually(
    'state rewritten',
    async () => JSON.parse(await readFile(join(s.dataDir, 'state.json'), 'utf8')).deployments.length === 1,
  );
});

test.serial('token rotation and revocation take effect at once', async (t) => {
  const s = await setup(t);
  await s.agent.start();
  await s.status('online');
  const { token } = await s.admin.expect(200, 'POST', `/api/nodes/${s.node.id}/token`);
  const refused = await eventually('the old token refused', async () => {
    const n = await s.nodeView();
    return n.status === 'offline' && n.statusMessage?.includes('refused the token') ? n : undefined;
  });
  t.truthy(refused);
  await s.agent.kill();
  const reconfigured = new AgentProcess({ ...s.agent.options, token });
  await reconfigured.start();
  t.teardown(() => reconfigured.kill());
  await s.status('online');

  await s.admin.expect(204, 'DELETE', `/api/nodes/${s.node.id}/token`);
  const revoked = await s.status('offline');
  t.regex(revoked.statusMessage, /no agent token/);
  // Any later look at the node (a change wakes its loop) finds no token and does not dial.
  const looks = () => s.cp.logs.filter((l) => /no agent token/.test(l)).length;
  const before = looks();
  await s.admin.expect(200, 'PATCH', `/api/nodes/${s.node.id}`, { labels: { looked: 'again' } });
  await eventually('the node looked at again', async () => looks() > before);
  t.is((await s.nodeView()).status, 'offline', 'and it stays down');
  t.is(reconfigured.logged(/control plane authenticated/).length, 1, 'never dialled again');
});

test.serial(
  'decommission: a disabled node keeps serving and finishes deletes; emptied, it can be removed, and history keeps its name',
  async (t) => {
    const s = await setup(t);
    const kept = await s.deployment([webService('web', 'kept')]);
    const doomed = await s.deployment([webService('web', 'doomed')]);
    await s.cp.database.db('deployments').whereIn('id', [kept, doomed]).update({ nodeName: 'node-1' });
    await s.agent.start();
    await s.status('online');
    await eventually(
      'both running',
      async () => (await s.containers(kept)).length === 1 && (await s.containers(doomed)).length === 1,
    );

    const connections = () => s.agent.logged(/control plane authenticated/).length;
    const connected = connections();
    const disabled = await s.admin.expect(200, 'PATCH', `/api/nodes/${s.node.id}`, { enabled: false });
    t.false(disabled.enabled);
    // The node's loop has taken the change once its status is written again (a wake re-reads it).
    await s.cp.cp.container.resolve(Outbox).settle();
    // A heartbeat after the change came over the connection there is then (a new one would have
    // been authenticated, and logged, before it).
    const changed = Date.now();
    await eventually(
      'a heartbeat after the change',
      async () => Date.parse((await s.nodeView()).lastHeartbeatAt) > changed,
    );
    t.is((await s.nodeView()).status, 'online', 'still connected');
    t.is(connections(), connected, 'the same connection: disabling does not reconnect');
    t.is(
      (await s.admin.get(`/api/deployments/${kept}`)).body.state,
      'running',
      'its deployments keep running',
    );
    t.is((await s.containers(kept))[0]?.State, 'running');
    const project = (await s.cp.database.db('deployments').where('id', kept).first()).projectId;
    const environment = await s.cp.database.db('environments').where('id', s.env.id).first();
    await t.throwsAsync(
      placeDeployment(s.cp.database.db, environment, { cpuMillicores: 10, memoryMb: 16 }),
      {
        message: /has no online node that takes new deployments \(1 disabled\)/,
      },
      'no new placements',
    );

    await s.admin.expect(202, 'DELETE', `/api/deployments/${doomed}`);
    await eventually(
      'the delete on the disabled node finished',
      async () => (await s.admin.get(`/api/deployments/${doomed}`)).body.state === 'deleted',
    );
    t.deepEqual(await s.containers(doomed), []);

    const busy = await s.admin.request('DELETE', `/api/nodes/${s.node.id}`);
    t.is(busy.status, 409);
    t.regex(busy.body.error.message, new RegExp(`1 deployment\\(s\\): d-${kept.slice(0, 8)} \\(running\\)`));
    const busyProject = await s.admin.request('DELETE', `/api/projects/${project}`);
    t.is(busyProject.status, 409, 'nor its project');

    await s.admin.expect(202, 'DELETE', `/api/deployments/${kept}`);
    await eventually(
      'emptied',
      async () => (await s.admin.get(`/api/deployments/${kept}`)).body.state === 'deleted',
    );
    await s.admin.expect(204, 'DELETE', `/api/nodes/${s.node.id}`);
    const history = await s.admin.get(`/api/deployments/${doomed}`);
    t.like(history.body, { state: 'deleted', nodeId: null, nodeName: 'node-1' });
    t.is((await s.admin.get(`/api/deployments/${doomed}/history`)).status, 200);
    await s.admin.expect(204, 'DELETE', `/api/projects/${project}`);
    t.is(
      (await s.admin.get(`/api/deployments/${kept}`)).status,
      404,
      'deleted deployments go with their project',
    );
  },
);

test.serial(
  'a blip that drops every agent link at once: the nodes are marked offline together, in a few transactions, and all come back',
  async (t) => {
    const COUNT = 60;
    const cp = await startTestControlPlane(FAST);
    const certDir = await mkdtemp(join(tmpdir(), 'nullops-sim-'));
    const sims = await startSimulators(COUNT, certDir);
    t.teardown(async () => {
      sims.kill();
      await cp.close();
      await rm(certDir, { recursive: true, force: true });
    });
    const env = await cp.admin.expect(201, 'POST', '/api/environments', {
      name: 'fleet',
      baseDomain: 'fleet.localhost',
      runtime: 'docker',
      defaultTtlSeconds: 3600,
    });
    await registerSimulated(cp.admin, env.id, sims);
    const statuses = async () =>
      (await cp.database.db('nodes').select('status', 'statusMessage')) as {
        status: string;
        statusMessage: string | null;
      }[];
    await eventually('every node online', async () => (await statuses()).every((n) => n.status === 'online'));

    const knex = cp.cp.container.resolve(Refs.database);
    const statements: string[] = [];
    const onQuery = (q: { sql: string }) => statements.push(q.sql);
    knex.on('query', onQuery);
    t.teardown(() => knex.off('query', onQuery));
    sims.tell('drop');
    await eventually('every node marked lost', async () =>
      cp.logs
        .join('')
        .split('\n')
        .filter((l) => /"node status"/.test(l) && /connection lost/.test(l)).length >= COUNT
        ? true
        : undefined,
    );
    await eventually('every node online again', async () =>
      (await statuses()).every((n) => n.status === 'online'),
    );
    const lossWrites = statements.filter((s) => /^update nodes as n set status = v\.status/.test(s)).length;
    t.log(`${COUNT} nodes lost at once, written in ${lossWrites} statements`);
    t.true(lossWrites >= 1 && lossWrites <= COUNT / 2, `${lossWrites} writes for ${COUNT} lost nodes`);
  },
);
