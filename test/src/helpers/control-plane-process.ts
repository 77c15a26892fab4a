import { type ChildProcess, spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { freePort, tempDir } from './agent-process.js';
import { DEADLINE_MS } from './time.js';

/** What `npm start` runs: the control plane with its local Docker agent (the all-in-one entry). */
export const MAIN = resolve('deploy/all-in-one/dist/main.js');

/** Starts `node deploy/all-in-one/dist/main.js` (what `npm start` runs) and resolves once it says it is ready. */
export function start(env: Record<string, string>): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn(process.execPath, [MAIN], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => (out += d));
  return new Promise((ok, fail) => {
    const timer = setTimeout(
      () => fail(new Error(`did not start in ${DEADLINE_MS / 1000} s:\n${out}`)),
      DEADLINE_MS,
    );
    const poll = setInterval(() => {
      if (out.includes('NullOps is ready at')) {
        clearInterval(poll);
        clearTimeout(timer);
        ok({ child, output: () => out });
      }
    }, 50);
    child.once('exit', (code) => {
      clearInterval(poll);
      clearTimeout(timer);
      fail(new Error(`exited with ${code}:\n${out}`));
    });
  });
}

export function stop(child: ChildProcess): Promise<number | null> {
  return new Promise((ok) => {
    child.once('exit', (code) => ok(code));
    child.kill('SIGTERM');
  });
}

/**
 * The environment of a `npm start` of its own: a fresh data directory (`dataDir`, to remove
 * afterwards) and free ports for the API, the embedded PostgreSQL, the local agent and the ingress.
 */
export async function ownEnvironment(prefix: string) {
  const dataDir = await tempDir(prefix);
  return {
    dataDir,
    env: {
      NULLOPS_DATA_DIR: join(dataDir, 'data'),
      PORT: String(await freePort()),
      NULLOPS_EMBEDDED_PG_PORT: String(await freePort()),
      NULLOPS_EMBEDDED_AGENT_PORT: String(await freePort()),
      NULLOPS_INGRESS_PORT: String(await freePort()),
    },
  };
}
