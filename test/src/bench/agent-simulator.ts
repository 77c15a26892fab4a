// Many agents in one process for benchmark P3: each listens on a TLS port of its own, proves its
// node token on the real protocol (channel proof, hello, requests, heartbeats at the default
// interval) and runs nothing. Protocol: prints {"ports": [...]} once listening, then reads one line
// {"tokens": {"<port>": "<token>"}}; afterwards the line "drop" closes every connection at once.
import { createServer, type Server } from 'node:https';
import { createInterface } from 'node:readline';
import type { TLSSocket } from 'node:tls';
import { loadOrCreateCertificate } from '@nullops/agent-host';
import { AGENT_PROOF_HEADER, channelProof, nodeTokenHash } from '@nullops/core';
import { PROTOCOL_VERSION } from '@nullops/plugin-sdk';
import { type WebSocket, WebSocketServer } from 'ws';

const COUNT = Number(process.env.SIM_AGENTS ?? 1000);
const HEARTBEAT_MS = 5000;

async function main() {
  const cert = await loadOrCreateCertificate(process.env.SIM_CERT_DIR as string);
  const hashes = new Map<number, string>();
  const sockets = new Set<WebSocket>();
  const servers: Server[] = [];
  for (let i = 0; i < COUNT; i++) {
    const server = createServer({ cert: cert.cert, key: cert.key });
    const wss = new WebSocketServer({ server, perMessageDeflate: false });
    server.listen(0, '127.0.0.1');
    await new Promise((ok) => server.once('listening', ok));
    const port = (server.address() as { port: number }).port;
    wss.on('headers', (headers, req) => {
      const hash = hashes.get(port);
      if (hash)
        headers.push(`${AGENT_PROOF_HEADER}: ${channelProof(hash, req.socket as TLSSocket, 'agent')}`);
    });
    wss.on('connection', (ws) => serve(ws, sockets));
    servers.push(server);
  }
  process.stdout.write(
    `${JSON.stringify({ ports: servers.map((s) => (s.address() as { port: number }).port) })}\n`,
  );
  for await (const line of createInterface({ input: process.stdin })) {
    if (line === 'drop') {
      for (const ws of sockets) ws.terminate();
      continue;
    }
    const { tokens } = JSON.parse(line) as { tokens: Record<string, string> };
    for (const [port, token] of Object.entries(tokens)) hashes.set(Number(port), nodeTokenHash(token));
  }
}

function serve(ws: WebSocket, sockets: Set<WebSocket>) {
  sockets.add(ws);
  const send = (m: unknown) => ws.send(JSON.stringify(m));
  send({
    type: 'event',
    event: 'hello',
    data: { protocolVersion: PROTOCOL_VERSION, agentVersion: 'sim', runtime: 'docker' },
  });
  const beat = () =>
    send({
      type: 'event',
      event: 'heartbeat',
      data: {
        at: new Date().toISOString(),
        capacity: { cpuMillicores: 4000, memoryMb: 8192 },
        host: { cpuPercent: 3, memoryUsedMb: 1024, memoryTotalMb: 8192, load1: 0.1 },
        services: [],
      },
    });
  // Spread over the interval, as real agents started at different times are.
  const first = setTimeout(beat, Math.random() * HEARTBEAT_MS);
  const timer = setInterval(beat, HEARTBEAT_MS);
  ws.on('close', () => {
    clearTimeout(first);
    clearInterval(timer);
    sockets.delete(ws);
  });
  ws.on('message', (data) => {
    const m = JSON.parse(String(data));
    if (m.type !== 'request') return;
    const result =
      m.method === 'sync'
        ? { deployments: [], report: { kept: [], restarted: [], recreated: [], removedDeployments: [] } }
        : m.method === 'plugins.sync'
          ? {
              plugins: m.params.plugins.map((p: { name: string; version: string }) => ({
                name: p.name,
                version: p.version,
                status: 'loaded',
                components: [],
              })),
            }
          : m.method === 'ping'
            ? { at: new Date().toISOString() }
            : { accepted: false };
    send({ type: 'response', id: m.id, ok: true, result });
  });
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
