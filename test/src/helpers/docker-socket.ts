import { rm } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { tempDir } from './agent-process.js';

/**
 * A Docker socket of its own for one agent (`DOCKER_HOST=unix://…`), relayed to the real engine,
 * that a test can cut and bring back: the engine is "unreachable" for that agent alone while every
 * container keeps running.
 */
export class DockerSocketRelay {
  private server: Server | undefined;
  private readonly open = new Set<Socket>();

  private constructor(
    readonly dir: string,
    readonly path: string,
  ) {}

  static async start(engine = '/var/run/docker.sock'): Promise<DockerSocketRelay> {
    const dir = await tempDir('nullops-docker-relay-');
    const relay = new DockerSocketRelay(dir, join(dir, 'docker.sock'));
    relay.engine = engine;
    await relay.restore();
    return relay;
  }

  private engine = '/var/run/docker.sock';

  get dockerHost(): string {
    return `unix://${this.path}`;
  }

  /** The engine is gone for this agent: connections drop, new ones are refused. */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const socket of this.open) socket.destroy();
    this.open.clear();
    if (server) await new Promise<void>((done) => server.close(() => done()));
    await rm(this.path, { force: true });
  }

  /** The engine is back. */
  async restore(): Promise<void> {
    if (this.server) return;
    const server = createServer((client) => {
      const upstream = connect(this.engine);
      this.open.add(client);
      this.open.add(upstream);
      const drop = () => {
        client.destroy();
        upstream.destroy();
        this.open.delete(client);
        this.open.delete(upstream);
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((done, fail) => server.listen(this.path, done).once('error', fail));
    this.server = server;
  }

  async stop(): Promise<void> {
    await this.cut();
    await rm(this.dir, { recursive: true, force: true });
  }
}
