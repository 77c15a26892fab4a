import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { cp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, tempDir } from './agent-process.js';
import { eventually } from './time.js';

const run = promisify(execFile);

export interface TestNpmRegistry {
  url: string;
  /** A publish token of user `ci`. */
  token: string;
  /**
   * Publishes the package folder `dir`, optionally with another version and extra package.json
   * fields (a copy is published; the fixture stays untouched).
   */
  publish(dir: string, patch?: Record<string, unknown>): Promise<void>;
  stop(): Promise<void>;
}

/** A real Verdaccio (npm registry) with no uplinks: only what the test publishes exists. */
export async function startVerdaccio(): Promise<TestNpmRegistry> {
  const dir = await tempDir('nullops-verdaccio-');
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/`;
  await writeFile(
    join(dir, 'config.yaml'),
    [
      `storage: ${join(dir, 'storage')}`,
      'auth:',
      '  htpasswd:',
      `    file: ${join(dir, 'htpasswd')}`,
      'uplinks: {}',
      'packages:',
      "  '**':",
      '    access: $all',
      '    publish: $authenticated',
      'web:',
      '  enable: false',
      'log: { type: stdout, format: pretty, level: error }',
      '',
    ].join('\n'),
  );
  const bin = createRequire(import.meta.url).resolve('verdaccio/bin/verdaccio');
  const child: ChildProcess = spawn(
    process.execPath,
    [bin, '--config', join(dir, 'config.yaml'), '--listen', `127.0.0.1:${port}`],
    {
      stdio: 'ignore',
    },
  );
  await eventually('Verdaccio', async () => (await fetch(`${url}-/ping`).catch(() => undefined))?.ok);
  const user = await fetch(`${url}-/user/org.couchdb.user:ci`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'ci', password: 'verdaccio-ci-pw' }),
  });
  const { token } = (await user.json()) as { token: string };
  const npmrc = join(dir, '.npmrc');
  await writeFile(npmrc, `registry=${url}\n//127.0.0.1:${port}/:_authToken=${token}\n`);

  return {
    url,
    token,
    async publish(source, patch = {}) {
      const copy = await tempDir('nullops-publish-');
      await cp(source, copy, { recursive: true });
      const pkg = JSON.parse(await readFile(join(copy, 'package.json'), 'utf8'));
      await writeFile(join(copy, 'package.json'), JSON.stringify({ ...pkg, ...patch }, null, 2));
      await run(
        'npm',
        ['publish', '--registry', url, '--userconfig', npmrc, '--ignore-scripts', '--no-provenance'],
        {
          cwd: copy,
          env: { ...process.env, npm_config_loglevel: 'error' },
        },
      );
      await rm(copy, { recursive: true, force: true });
    },
    async stop() {
      child.kill('SIGTERM');
      await rm(dir, { recursive: true, force: true });
    },
  };
}
