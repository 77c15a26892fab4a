import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, tempDir } from './agent-process.js';
import { eventually } from './time.js';

export interface TestRegistry {
  /** `127.0.0.1:PORT`: Docker treats loopback registries as insecure-allowed. */
  host: string;
  url: string;
  credentials?: { username: string; password: string };
  /** Tags `nullops-test/busybox:1` as `host/repo:tag` and pushes it. */
  push(repo: string, tag: string): void;
  /** Builds (offline, FROM the busybox test image) a web image answering `body`, and pushes it. */
  pushWeb(repo: string, tag: string, body: string): void;
  /** Builds an image from a Dockerfile (no build context; FROM a local image) and pushes it. */
  pushBuilt(repo: string, tag: string, dockerfile: string): void;
  stop(): Promise<void>;
}

/** A real CNCF distribution registry (Debian's docker-registry), optionally behind htpasswd Basic auth. */
export async function startRegistry(
  options: {
    auth?: boolean;
    /** Also reachable from containers (at their gateway), not only on this machine's loopback. */
    everyInterface?: boolean;
  } = {},
): Promise<TestRegistry> {
  const dir = await tempDir('nullops-registry-');
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const credentials = options.auth ? { username: 'ci', password: 'registry-secret-pw' } : undefined;
  let auth = '';
  if (credentials) {
    execFileSync('htpasswd', ['-Bbc', join(dir, 'htpasswd'), credentials.username, credentials.password], {
      stdio: 'ignore',
    });
    auth = `auth:\n  htpasswd:\n    realm: nullops-test\n    path: ${join(dir, 'htpasswd')}\n`;
  }
  await writeFile(
    join(dir, 'config.yml'),
    `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\n  delete:\n    enabled: true\nhttp:\n  addr: ${options.everyInterface ? `0.0.0.0:${port}` : host}\n${auth}`,
  );
  const child: ChildProcess = spawn('docker-registry', ['serve', join(dir, 'config.yml')], {
    stdio: 'ignore',
  });
  await eventually('the registry', async () => {
    const res = await fetch(`http://${host}/v2/`).catch(() => undefined);
    return res && (res.status === 200 || res.status === 401);
  });
  const docker = (args: string[]) => execFileSync('docker', args, { stdio: 'pipe' });
  /** Pushes a local image (logging in when the registry needs it) and drops the local tag. */
  const publish = (ref: string) => {
    if (credentials) docker(['login', host, '-u', credentials.username, '--password', credentials.password]);
    try {
      docker(['push', ref]);
    } finally {
      if (credentials) docker(['logout', host]);
      docker(['rmi', ref]);
    }
  };
  const pushBuilt = (repo: string, tag: string, dockerfile: string) => {
    const ref = `${host}/${repo}:${tag}`;
    execFileSync('docker', ['build', '-q', '-t', ref, '-'], {
      input: dockerfile,
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    publish(ref);
  };
  return {
    host,
    url: `http://${host}`,
    ...(credentials ? { credentials } : {}),
    push(repo, tag) {
      const ref = `${host}/${repo}:${tag}`;
      docker(['tag', 'nullops-test/busybox:1', ref]);
      publish(ref);
    },
    pushWeb(repo, tag, body) {
      pushBuilt(
        repo,
        tag,
        // It says what it serves on start (a log line to read back), then logs every request.
        `FROM nullops-test/busybox:1\nRUN mkdir -p /www && echo "${body}" > /www/index.html\nCMD ["sh", "-c", "echo 'serving ${body}'; exec httpd -f -v -p 80 -h /www"]\n`,
      );
    },
    pushBuilt,
    async stop() {
      child.kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
