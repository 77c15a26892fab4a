import { type ChildProcess, spawn } from 'node:child_process';
import { chmod, mkdtemp, readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { ApiClient } from './api-client.js';
import { DEADLINE_MS, eventually, scaled } from './time.js';

/** Ports this process handed out: never twice. */
const handedOut = new Set<number>();

/**
 * A free port for something that starts a little later, taken below the range the system hands
 * out for port 0 and for outgoing connections: in between, nothing binding port 0 (an ingress, a
 * relay listener) and no outgoing connection (to one of many agents) can take it.
 */
export async function freePort(): Promise<number> {
  const [low] = (await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')).split(/\s+/).map(Number);
  for (;;) {
    const port = 10_000 + Math.floor(Math.random() * ((low ?? 32768) - 10_000));
    if (handedOut.has(port)) continue;
    const free = await new Promise<boolean>((ok) => {
      const server = createServer()
        .once('error', () => ok(false))
        .listen(port, '127.0.0.1', () => server.close(() => ok(true)));
    });
    if (free) {
      handedOut.add(port);
      return port;
    }
  }
}

export async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  await chmod(dir, 0o755);
  return dir;
}

/** The agents' programs, as an operator runs them. */
export const AGENT_PROGRAMS = {
  docker: 'agent-docker/dist/main.js',
  kubernetes: 'agent-k8s/dist/main.js',
  /** A third runtime kind, brought by a fixture package alone (test/fixtures/runtimes/memory). */
  memory: 'test/fixtures/runtimes/memory/main.js',
} as const;

/** A `nullops-agent-docker` (or `-k8s`) process, as an operator would run it. */
export class AgentProcess {
  readonly lines: Record<string, any>[] = [];
  /** What the agent wrote to stderr (a crash's stack). */
  stderr = '';
  private child: ChildProcess | undefined;
  private exited: Promise<number | null> = Promise.resolve(null);

  constructor(
    readonly options: {
      port: number;
      dataDir: string;
      token: string;
      env?: Record<string, string>;
      program?: keyof typeof AGENT_PROGRAMS;
      /** Run inside this network namespace (listening on all its addresses). */
      netns?: string;
    },
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Log lines (parsed pino JSON) whose message matches. */
  logged(msg: RegExp): Record<string, any>[] {
    return this.lines.filter((l) => msg.test(String(l.msg)));
  }

  async start(): Promise<this> {
    const listeningBefore = this.logged(/agent is listening/).length;
    const program = [process.execPath, resolve(AGENT_PROGRAMS[this.options.program ?? 'docker'])];
    // `ip netns exec` execs the program: the child's pid is the agent's own, for signals.
    const [command, ...args] = this.options.netns
      ? ['ip', 'netns', 'exec', this.options.netns, ...program]
      : program;
    const child = spawn(command as string, args, {
      env: {
        PATH: process.env.PATH,
        NULLOPS_AGENT_PORT: String(this.options.port),
        NULLOPS_AGENT_LISTEN_HOST: this.options.netns ? '0.0.0.0' : '127.0.0.1',
        NULLOPS_AGENT_DATA_DIR: this.options.dataDir,
        NULLOPS_AGENT_TOKEN: this.options.token,
        NULLOPS_AGENT_HEARTBEAT_SECONDS: '1',
        ...this.options.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    let buffer = '';
    this.stderr = '';
    child.stdout?.on('data', (chunk) => {
      buffer += chunk;
      const parts = buffer.split('\n');
      buffer = parts.pop() ?? '';
      for (const part of parts) {
        try {
          this.lines.push(JSON.parse(part));
        } catch {
          this.lines.push({ msg: part });
        }
      }
    });
    child.stderr?.on('data', (chunk) => (this.stderr += chunk));
    this.exited = new Promise((ok) => child.once('exit', (code) => ok(code)));
    const started = Date.now();
    while (this.logged(/agent is listening/).length === listeningBefore) {
      if (child.exitCode !== null) throw new Error(`agent exited (${child.exitCode}): ${this.stderr}`);
      if (Date.now() - started > DEADLINE_MS) throw new Error(`agent did not start: ${this.stderr}`);
      await new Promise((r) => setTimeout(r, 25));
    }
    return this;
  }

  get thumbprint(): string {
    return this.logged(/agent is listening/).at(-1)?.thumbprint;
  }

  /** Sends a signal and returns at once (SIGSTOP freezes the agent: sockets open, nothing answered). */
  signal(signal: NodeJS.Signals): void {
    this.child?.kill(signal);
  }

  async kill(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (!this.child || this.child.exitCode !== null) return;
    // A stopped process would hold the signal until continued.
    this.child.kill('SIGCONT');
    this.child.kill(signal);
    // An agent that does not stop within 10 s is killed outright: a teardown must never hang.
    const forced = setTimeout(() => this.child?.kill('SIGKILL'), scaled(10_000));
    await this.exited;
    clearTimeout(forced);
  }
}

/**
 * Registers a node on a free local port in an environment, and an agent process (not started) for
 * it with the token the control plane just issued.
 */
export async function registerLocalNode(
  admin: ApiClient,
  environmentId: string,
  name = 'node-1',
  agent: {
    program?: keyof typeof AGENT_PROGRAMS;
    env?: Record<string, string>;
    /** Where the control plane dials it (default 127.0.0.1), e.g. an address in a network namespace. */
    host?: string;
    netns?: string;
  } = {},
) {
  const port = await freePort();
  const { host = '127.0.0.1', ...spawnOptions } = agent;
  const node = await admin.expect(201, 'POST', '/api/nodes', {
    environmentId,
    name,
    host,
    port,
  });
  const dataDir = await tempDir('nullops-agent-');
  return { node, dataDir, agent: new AgentProcess({ port, dataDir, token: node.token, ...spawnOptions }) };
}

/** Waits until the node is online and has reported its capacity (so placement can use it). */
export async function waitNodeReady(admin: ApiClient, nodeId: string): Promise<void> {
  await eventually('node online with capacity', async () => {
    const node = (await admin.get(`/api/nodes/${nodeId}`)).body;
    return node.status === 'online' && node.capacity;
  });
}
