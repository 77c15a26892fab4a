import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { ApiClient } from '../helpers/api-client.js';

/** Agents per simulator process: each holds two sockets per agent, within a process's file limit. */
const PER_SIMULATOR = 4000;

/**
 * `count` simulated agents (agent-simulator.ts) in as many processes as they need. `ports` are
 * where they listen; `tell` sends every simulator a line (the tokens, then "drop").
 */
export async function startSimulators(count: number, certDir: string) {
  const sims = Array.from({ length: Math.ceil(count / PER_SIMULATOR) }, (_, i) =>
    spawn(process.execPath, ['test/dist/bench/agent-simulator.js'], {
      env: {
        ...process.env,
        SIM_AGENTS: String(Math.min(PER_SIMULATOR, count - i * PER_SIMULATOR)),
        SIM_CERT_DIR: certDir,
      },
      stdio: ['pipe', 'pipe', 'inherit'],
    }),
  );
  const ports: number[] = [];
  for (const sim of sims) {
    const lines = createInterface({ input: sim.stdout });
    ports.push(
      ...(JSON.parse((await lines[Symbol.asyncIterator]().next()).value) as { ports: number[] }).ports,
    );
  }
  return {
    ports,
    /** How many simulator processes share the agents. */
    processes: sims.length,
    /** Each simulator takes what concerns its own ports. */
    tell(line: string) {
      for (const sim of sims) sim.stdin.write(`${line}\n`);
    },
    kill() {
      for (const sim of sims) sim.kill();
    },
  };
}

/**
 * Registers a node per simulated agent through the API, 20 at a time, and hands each batch's
 * tokens to the simulators at once: an agent proves its token as soon as its node exists (with all
 * tokens held back to the end, the control plane would redial thousands of unproven agents while
 * the rest registered).
 */
export async function registerSimulated(
  admin: ApiClient,
  environmentId: string,
  sims: Simulators,
  extra: Record<string, unknown> = {},
): Promise<void> {
  const { ports } = sims;
  for (let i = 0; i < ports.length; i += 20) {
    const tokens: Record<string, string> = {};
    await Promise.all(
      ports.slice(i, i + 20).map(async (port, j) => {
        const node = await admin.expect(201, 'POST', '/api/nodes', {
          environmentId,
          name: `sim-${i + j}`,
          host: '127.0.0.1',
          port,
          ...extra,
        });
        tokens[port] = node.token;
      }),
    );
    sims.tell(JSON.stringify({ tokens }));
  }
}

export type Simulators = Awaited<ReturnType<typeof startSimulators>>;
