import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { createServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { loadOrCreateCertificate } from '@nullops/agent-host';
import { AGENT_PROOF_HEADER, channelProof, nodeTokenHash } from '@nullops/core';
import { PROTOCOL_VERSION } from '@nullops/plugin-sdk';
import test from 'ava';
import { WebSocketServer } from 'ws';
import { freePort, registerLocalNode, tempDir } from '../helpers/agent-process.js';
import { docker, ensureTestImages, removeLabelled, webService } from '../helpers/docker.js';
import { startTestControlPlane } from '../helpers/test-control-plane.js';
import { eventually } from '../helpers/time.js';

/**
 * A compromised node holds its own token and speaks the protocol: whatever it reports about
 * another node's deployment — in its sync answer, as a finished run, as a pipeline step — is
 * dropped and logged; the victim's record, specs and history are untouched.
 */
test('a node cannot report on, rewrite or fail another node’s deployment', async (t) => {
  ensureTestImages();
  const cp = await startTestControlPlane({ NULLOPS_AGENT_RECONNECT_MAX_MS: '400' });
  t.teardown(cp.close);
  const { admin } = cp;
  const env = await admin.expect(201, 'POST', '/api/environments', {
    name: 'qa',
    baseDomain: 'qa.localhost',
    runtime: 'docker',
    defaultTtlSeconds: 3600,
  });
  const honest = await registerLocalNode(admin, env.id, 'honest');
  const project = await admin.expect(201, 'POST', '/api/projects', {
    name: 'victim',
    cpuMillicores: 500,
    memoryMb: 256,
  });
  const victim = randomUUID();
  const spec = webService('web', 'the real one');
  await cp.database.db('deployments').insert({
    id: victim,
    name: 'victim',
    projectId: project.id,
    environmentId: env.id,
    nodeId: honest.node.id,
    nodeName: 'honest',
    state: 'running',
    services: JSON.stringify([spec]),
    cpuMillicores: 250,
    memoryMb: 64,
  });
  t.teardown(async () => {
    await honest.agent.kill();
    await removeLabelled(docker, [victim]);
    await rm(honest.dataDir, { recursive: true, force: true });
  });
  await honest.agent.start();
  await eventually('the victim running on the honest node', async () => {
    const [c] = await docker.listContainers({ filters: { label: [`dev.nullops.deployment=${victim}`] } });
    return c?.State === 'running';
  });

  // The forger: a real node of the same environment, with its own valid token.
  const port = await freePort();
  const forged = await admin.expect(201, 'POST', '/api/nodes', {
    environmentId: env.id,
    name: 'forger',
    host: '127.0.0.1',
    port,
  });
  const certDir = await tempDir('nullops-forger-');
  const cert = await loadOrCreateCertificate(certDir);
  const server = createServer({ cert: cert.cert, key: cert.key });
  const wss = new WebSocketServer({ server });
  wss.on('headers', (headers, req) =>
    headers.push(
      `${AGENT_PROOF_HEADER}: ${channelProof(nodeTokenHash(forged.token), req.socket as TLSSocket, 'agent')}`,
    ),
  );
  const evil = { ...spec, image: 'evil/miner:latest', env: { PWNED: '1' } };
  const lie = {
    id: victim,
    phase: 'failed',
    services: [],
    specs: [evil],
    error: { step: 'web', message: 'forged failure' },
  };
  let lied = 0;
  wss.on('connection', (ws) => {
    const send = (m: unknown) => ws.send(JSON.stringify(m));
    send({
      type: 'event',
      event: 'hello',
      data: { protocolVersion: PROTOCOL_VERSION, agentVersion: 'forger', runtime: 'docker' },
    });
    ws.on('message', (data) => {
      const m = JSON.parse(String(data));
      if (m.type !== 'request') return;
      if (m.method === 'sync') {
        send({
          type: 'response',
          id: m.id,
          ok: true,
          result: {
            deployments: [{ ...lie, phase: 'running' }],
            report: { kept: [], restarted: [], recreated: [], removedDeployments: [] },
          },
        });
        send({ type: 'event', event: 'deployment.finished', data: lie });
        send({
          type: 'event',
          event: 'pipeline.step',
          data: {
            deploymentId: victim,
            nodeId: 'web',
            status: 'log',
            message: 'forged log line',
            at: new Date().toISOString(),
          },
        });
        lied++;
      } else
        send({
          type: 'response',
          id: m.id,
          ok: true,
          result: m.method === 'plugins.sync' ? { plugins: [] } : {},
        });
    });
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(port, '127.0.0.1', ok);
  });
  t.teardown(async () => {
    // Upgraded sockets are no longer the HTTP server's: end them first, or close() waits forever.
    for (const client of wss.clients) client.terminate();
    wss.close();
    server.closeAllConnections();
    await new Promise((ok) => server.close(ok));
    await rm(certDir, { recursive: true, force: true });
  });

  await eventually(
    'the forger online and lying',
    async () => lied > 0 && (await admin.get(`/api/nodes/${forged.id}`)).body.status === 'online',
  );
  // Its lies have landed: each was dropped and logged (asserted below).
  await eventually(
    'three forged reports dropped',
    async () => cp.logs.filter((l) => l.includes('that is not its own') && l.includes(victim)).length >= 3,
  );
  const row = await cp.database.db('deployments').where('id', victim).first();
  t.is(row.state, 'running', 'not failed by the forger');
  t.is(row.nodeId, honest.node.id);
  t.false(JSON.stringify(row.services).includes('evil/miner'), 'its specs were not rewritten');
  t.deepEqual(
    (row.actual as { name: string; status: string }[]).map((a) => [a.name, a.status]),
    [['web', 'running']],
    'what it runs is what the honest node reported (the forger said: nothing)',
  );
  const steps = await cp.database
    .db('deployment_events')
    .where('deploymentId', victim)
    .whereILike('message', '%forged%');
  t.deepEqual(steps, [], 'no forged step or log line stored');
  const history = (await admin.get(`/api/deployments/${victim}/history`)).body.items;
  t.false(JSON.stringify(history).includes('forged'), 'nothing forged in its history');
  const [c] = await docker.listContainers({ filters: { label: [`dev.nullops.deployment=${victim}`] } });
  t.is(c?.Image, spec.image, 'the honest node still runs the real service');
  t.true(
    cp.logs.filter((l) => l.includes('that is not its own') && l.includes(victim)).length >= 3,
    'each forged report was dropped and logged',
  );
});
