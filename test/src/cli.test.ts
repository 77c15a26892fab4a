import { execFile } from 'node:child_process';
import { readdir, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import Docker from 'dockerode';
import { freePort, tempDir } from './helpers/agent-process.js';
import { crashInside, ensureTestImages } from './helpers/docker.js';
import { viaIngress } from './helpers/ingress.js';
import { type Stack, startStack } from './helpers/stack.js';
import { DEADLINE_MS, eventually } from './helpers/time.js';

// The `nullops` CLI as a CI job uses it: only the installed command and a scoped API token.

const NULLOPS = resolve('node_modules/.bin/nullops');
const docker = new Docker();
let s: Stack;
let config: string;

test.before(async () => {
  ensureTestImages();
  s = await startStack({
    prepare: (registry) => {
      registry.pushWeb('team/web', 'v1', 'web v1');
      registry.pushWeb('team/web', 'v2', 'web v2');
    },
    services: [{ name: 'web', image: 'team/web', pattern: 'v*' }],
  });
  await s.savePipeline({
    nodes: [
      {
        id: 'web',
        type: 'container.service',
        params: { service: 'web', port: 80, healthCheck: { kind: 'http', path: '/' } },
      },
    ],
    edges: [],
  });
  config = await tempDir('nullops-cli-config-');
});

test.after.always(async () => {
  await s?.stop();
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `nullops …` with a clean environment: what a CI runner has. */
function nullops(args: string[], env: Record<string, string> = {}, program = NULLOPS): Promise<Run> {
  return new Promise((done) => {
    execFile(
      program,
      args,
      { env: { PATH: process.env.PATH, XDG_CONFIG_HOME: config, ...env }, timeout: DEADLINE_MS },
      (err, stdout, stderr) =>
        done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

test.serial(
  'a CI job with a scoped token: deploy with a tag and wait, read the URL, retry safely, follow up, delete',
  async (t) => {
    const { token } = await s.admin.expect(201, 'POST', '/api/auth/tokens', {
      name: 'ci',
      access: 'full',
      projectIds: [s.project.id],
      expiresInDays: 1,
    });
    const ci = { NULLOPS_URL: s.cp.url, NULLOPS_TOKEN: token };

    const deploy = [
      'deploy',
      'plugins',
      '--env',
      'qa',
      '--name',
      'pr-42',
      '--tag',
      'web=v2',
      '--wait',
      '-o',
      'json',
    ];
    const first = await nullops(deploy, ci);
    t.is(first.code, 0, first.stderr);
    const d = JSON.parse(first.stdout);
    t.like(d, { name: 'pr-42', state: 'running', tags: { web: 'v2' } });
    // Progress while it waited: each step, on stderr (stdout is the JSON alone).
    t.regex(first.stderr, /\[web\] started/);
    t.regex(first.stderr, /\[web\] succeeded/);
    t.regex(first.stderr, /→ running/);
    const url = new URL(d.services[0].url);
    t.is(url.hostname, s.host('web', 'pr-42'));
    const page = await viaIngress(s.ingressPort, url.hostname);
    t.is(page.body.trim(), 'web v2');

    // The job retried (a flaky runner): the same deployment, not a second one or an error.
    const again = await nullops(deploy, ci);
    t.is(again.code, 0, again.stderr);
    t.is(JSON.parse(again.stdout).id, d.id);

    const status = await nullops(['status', 'pr-42'], ci);
    t.is(status.code, 0, status.stderr);
    t.regex(status.stdout, /pr-42 {2}running/);
    t.regex(status.stdout, new RegExp(`web +${d.services[0].url.replace(/[.]/g, '\\.')}`));
    const list = await nullops(['ls'], ci);
    t.regex(list.stdout, /^NAME +PROJECT +ENVIRONMENT +STATE +EXPIRES\npr-42 +plugins +qa +running /);
    const logs = await nullops(['logs', 'pr-42', '--service', 'web'], ci);
    t.is(logs.code, 0, logs.stderr);
    t.regex(logs.stdout, /serving web v2/);
    const extended = await nullops(['extend', 'pr-42', '-o', 'json'], ci);
    t.true(Date.parse(JSON.parse(extended.stdout).expiresAt) >= Date.parse(d.expiresAt));

    // Rebuilt in place: same name and URL, a new container; --wait follows only the redeploy.
    const redeployed = await nullops(['redeploy', 'pr-42', '--wait', '-o', 'json'], ci);
    t.is(redeployed.code, 0, redeployed.stderr);
    t.is(JSON.parse(redeployed.stdout).state, 'running');
    t.deepEqual(
      JSON.parse(redeployed.stdout).services.map((x: { url: string }) => x.url),
      d.services.map((x: { url: string }) => x.url),
    );
    t.is(
      (redeployed.stderr.match(/\[web\] succeeded/g) ?? []).length,
      1,
      'the new run’s steps, and nothing of the earlier history replayed',
    );

    // Status says how each service is doing now: one that crashed is restarting, with its exit code.
    await crashInside(d.id);
    const crashed = await eventually('status shows the crash', async () => {
      const out = await nullops(['status', 'pr-42'], ci);
      return /web +\S+ {2}restarting \(\d+×\), last exit 143/.test(out.stdout) && out;
    });
    t.is(crashed.code, 0);

    const removed = await nullops(['rm', 'pr-42', '--wait', '-o', 'json'], ci);
    t.is(removed.code, 0, removed.stderr);
    t.is(JSON.parse(removed.stdout).state, 'deleted');
    const left = await docker.listContainers({
      all: true,
      filters: { label: [`dev.nullops.deployment=${d.id}`] },
    });
    t.is(left.length, 0, 'nothing of it is left on the node');
  },
);

test.serial('failures say what went wrong and exit non-zero; usage mistakes exit 2', async (t) => {
  const { token } = await s.admin.expect(201, 'POST', '/api/auth/tokens', {
    name: 'ci-read',
    access: 'read',
  });
  const ci = { NULLOPS_URL: s.cp.url, NULLOPS_TOKEN: token };
  const readOnly = await nullops(['deploy', 'plugins', '--env', 'qa', '--name', 'x1', '--tag', 'web=v2'], ci);
  t.is(readOnly.code, 1);
  t.is(readOnly.stderr, 'nullops: this API token is read-only\n');
  const full = await s.admin.expect(201, 'POST', '/api/auth/tokens', { name: 'ci-full', access: 'full' });
  const noTag = await nullops(['deploy', 'plugins', '--env', 'qa', '--name', 'x1', '--tag', 'web=v9'], {
    ...ci,
    NULLOPS_TOKEN: full.token,
  });
  t.is(noTag.code, 1);
  t.regex(noTag.stderr, /^nullops: .*v9/m);
  const missing = await nullops(['status', 'nothing-here'], ci);
  t.is(missing.code, 2);
  t.regex(missing.stderr, /no deployment "nothing-here"/);
  const badOption = await nullops(['deploy', 'plugins', '--name', 'x'], ci);
  t.is(badOption.code, 2, 'a required option is missing');
  t.regex(badOption.stderr, /required option '-e, --env <environment>' not specified/);
  const unknown = await nullops(['deplo'], ci);
  t.is(unknown.code, 2, 'an unknown command');
  t.regex(unknown.stderr, /unknown command 'deplo'/);
  t.is((await nullops(['--help'], ci)).code, 0, 'help is not a mistake');
  const badHours = await nullops(['extend', 'anything', '--hours', 'soon'], ci);
  t.is(badHours.code, 2);
  t.regex(badHours.stderr, /--hours must be a whole number of hours, not "soon"/);
  const loggedOut = await nullops(['ls'], { XDG_CONFIG_HOME: await tempDir('nullops-cli-empty-') });
  t.is(loggedOut.code, 2);
  t.regex(loggedOut.stderr, /not logged in: run `nullops login <url>`/);
  const nobody = `http://127.0.0.1:${await freePort()}`;
  const unreachable = await nullops(['ls'], { NULLOPS_URL: nobody, NULLOPS_TOKEN: token });
  t.is(unreachable.code, 1);
  t.is(unreachable.stderr, `nullops: cannot reach ${nobody}: ECONNREFUSED\n`);
});

test.serial('login stores a token readable by its owner only; import reads a compose file', async (t) => {
  const login = await nullops(['login', s.cp.url, '--username', 'admin'], {
    NULLOPS_PASSWORD: s.cp.adminPassword,
  });
  t.is(login.code, 0, login.stderr);
  t.regex(login.stdout, /logged in to .* as admin/);
  const file = join(config, 'nullops', 'config.json');
  t.is((await stat(file)).mode & 0o777, 0o600);
  t.false(login.stdout.includes(s.cp.adminPassword) || login.stderr.includes(s.cp.adminPassword));
  const list = await nullops(['ls', '-o', 'json']);
  t.is(list.code, 0, list.stderr);

  const compose = join(config, 'compose.yml');
  await writeFile(
    compose,
    `services:\n  cache:\n    image: ${s.registry.host}/team/web:v1\n    ports: ["6379:80"]\n    restart: always\n`,
  );
  const dry = await nullops(['import', compose, '--name', 'from-cli', '--dry-run']);
  t.is(dry.code, 0, dry.stderr);
  t.regex(dry.stdout, /would import project from-cli/);
  t.regex(dry.stdout, /cache: local\/team\/web pinned v1; mapped image, ports/);
  t.regex(dry.stdout, /services\.cache\.restart: the agent keeps services running/);
  const real = await nullops(['import', compose, '--name', 'from-cli', '-o', 'json']);
  t.is(real.code, 0, real.stderr);
  t.is(JSON.parse(real.stdout).project.name, 'from-cli');
  await eventually('project listed', async () =>
    (await s.admin.get('/api/projects')).body.items.some((p: { name: string }) => p.name === 'from-cli'),
  );
});

test.serial(
  'the CLI package installs on its own, as on a CI runner: nothing of the repository, only commander and read',
  async (t) => {
    const dir = await tempDir('nullops-cli-pack-');
    const run = promisify(execFile);
    const packed = JSON.parse(
      (await run('npm', ['pack', '-w', 'cli', '--pack-destination', dir, '--json'])).stdout,
    );
    const runner = join(dir, 'runner');
    await run('npm', [
      'install',
      '--prefix',
      runner,
      '--no-audit',
      '--no-fund',
      join(dir, packed[0].filename),
    ]);
    t.deepEqual((await readdir(join(runner, 'node_modules'))).filter((m) => !m.startsWith('.')).sort(), [
      '@nullops',
      'commander',
      'mute-stream',
      'read',
    ]);
    const { token } = await s.admin.expect(201, 'POST', '/api/auth/tokens', {
      name: 'runner',
      access: 'read',
    });
    const list = await nullops(
      ['ls', '-o', 'json'],
      { NULLOPS_URL: s.cp.url, NULLOPS_TOKEN: token },
      join(runner, 'node_modules', '.bin', 'nullops'),
    );
    t.is(list.code, 0, list.stderr);
    t.true(Array.isArray(JSON.parse(list.stdout)));
  },
);
