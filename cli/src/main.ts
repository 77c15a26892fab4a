// nullops — NullOps from the terminal and from CI: log in once (or give NULLOPS_URL and
// NULLOPS_TOKEN), deploy with tags and wait for the URLs, follow logs, extend, clone, delete,
// import a docker-compose file. Human output by default, `--output json` for scripts.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import type { ComposeImportReport, Deployment, Project } from '@nullops/core/api-types';
import { Command, InvalidArgumentError, Option } from 'commander';
import { read } from 'read';
import { Api, ApiError } from './api.js';
import { loadCredentials, saveCredentials, UsageError } from './config.js';

type Output = 'human' | 'json';
const TERMINAL = new Set(['running', 'failed', 'deleted']);

/** This CLI's own version (its package.json, next to dist/ wherever it is installed). */
const { version } = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

const program = new Command('nullops')
  .description('NullOps from the terminal and from CI')
  .version(version, '-V, --version', 'the version of this CLI')
  .showHelpAfterError()
  // Commander has printed its own error (a missing option, an unknown command): a usage mistake,
  // exit 2 as documented (it would exit 1). Help and --version still exit 0. Subcommands inherit it.
  .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2))
  .addOption(
    new Option('-o, --output <format>', 'human or json').choices(['human', 'json']).default('human'),
  );

const out = (): Output => program.opts().output;
function print(human: string, json: unknown): void {
  process.stdout.write(out() === 'json' ? `${JSON.stringify(json, null, 2)}\n` : `${human}\n`);
}
/** Progress goes to stderr, so `--output json` leaves stdout to the result alone. */
const progress = (line: string) => process.stderr.write(`${line}\n`);

async function api(): Promise<Api> {
  const { url, token } = await loadCredentials();
  return new Api(url, { token });
}

function keyValue(what: string) {
  return (value: string, previous: Record<string, string> = {}) => {
    const eq = value.indexOf('=');
    if (eq < 1) throw new InvalidArgumentError(`${what} must look like name=value`);
    return { ...previous, [value.slice(0, eq)]: value.slice(eq + 1) };
  };
}

function duration(value: string): number {
  const m = /^(\d+)(ms|s|m|h)?$/.exec(value);
  if (!m) throw new InvalidArgumentError('must be a duration like 90s, 10m or 1h');
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
}

/**
 * The same deploy command run again (a CI retry) is the same request: its key is made from what
 * it asks for. The server releases a key when its deployment is deleted.
 */
function idempotencyKey(
  projectId: string,
  environmentId: string,
  name: string,
  tags: Record<string, string>,
) {
  const sorted = Object.entries(tags).sort(([a], [b]) => a.localeCompare(b));
  const what = JSON.stringify([projectId, environmentId, name, sorted]);
  return `cli-${createHash('sha256').update(what).digest('hex').slice(0, 40)}`;
}

const timeout = (what: string, ms: number, shown: string) =>
  new Option('--timeout <duration>', what).argParser(duration).default(ms, shown);

async function byName(client: Api, kind: 'projects' | 'environments', name: string) {
  const { items } = await client.get<{ items: { id: string; name: string }[] }>(`/api/${kind}`);
  const found = items.find((x) => x.name === name || x.id === name);
  if (!found)
    throw new UsageError(
      `no ${kind === 'projects' ? 'project' : 'environment'} "${name}" you can see (there are: ${items.map((x) => x.name).join(', ') || 'none'})`,
    );
  return found;
}

/** A deployment by id, or by name (with --env when the name is used in several environments). */
async function deploymentOf(client: Api, ref: string, env?: string): Promise<Deployment> {
  if (/^[0-9a-f-]{36}$/.test(ref)) return client.get<Deployment>(`/api/deployments/${ref}`);
  const query = new URLSearchParams({ name: ref });
  if (env) query.set('environmentId', (await byName(client, 'environments', env)).id);
  const { items } = await client.get<{ items: Deployment[] }>(`/api/deployments?${query}`);
  if (!items.length) throw new UsageError(`no deployment "${ref}"${env ? ` in ${env}` : ''} you can see`);
  if (items.length > 1)
    throw new UsageError(
      `"${ref}" names deployments in ${items.map((d) => d.environmentName).join(', ')}: add --env`,
    );
  return items[0] as Deployment;
}

/** A service's live health as its node reports it ("restarting (3×)", "crashed (exit 137)"), else its status. */
function serviceCondition(s: Deployment['services'][number]): string {
  const h = s.health;
  if (!h) return s.status;
  if (h.condition === 'restarting')
    return `restarting (${h.restartCount}×)${h.exitCode !== undefined ? `, last exit ${h.exitCode}` : ''}`;
  if (h.condition === 'crashed') return `crashed (exit ${h.exitCode ?? '?'})`;
  return h.condition;
}

function summary(d: Deployment): string {
  const lines = [
    `${d.name}  ${d.state}${d.stateMessage ? ` (${d.stateMessage})` : ''}`,
    `  project ${d.projectName}, environment ${d.environmentName}${d.nodeName ? `, node ${d.nodeName}` : ''}`,
    `  tags ${
      Object.entries(d.tags)
        .map(([k, v]) => `${k}=${v}${d.digests?.[k] ? `@${d.digests[k]?.slice(0, 19)}` : ''}`)
        .join(' ') || '—'
    }`,
  ];
  if (d.expiresAt) lines.push(`  expires ${d.expiresAt}`);
  if (d.error) lines.push(`  error${d.error.step ? ` in step ${d.error.step}` : ''}: ${d.error.message}`);
  for (const s of d.services) lines.push(`  ${s.name.padEnd(16)} ${s.url}  ${serviceCondition(s)}`);
  return lines.join('\n');
}

/**
 * Follows a deployment's events until it reaches one of `until` (or the deadline): each pipeline
 * step and image pull progress line on stderr. A dropped stream is reopened where it left off.
 */
async function follow(
  client: Api,
  id: string,
  until: Set<string>,
  timeoutMs: number,
  history: 'all' | 'none' = 'all',
) {
  const deadline = Date.now() + timeoutMs;
  let seen = -1;
  // What a step waits for is said each second; a terminal shows it when it changes.
  const waiting = new Map<string, string>();
  while (Date.now() < deadline) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), deadline - Date.now());
    try {
      // After an action on an existing deployment only what follows it is news (`none`).
      const events = client.events<ProgressEvent>(
        `/api/deployments/${id}/events?history=${history}`,
        controller.signal,
      );
      for await (const { event, data } of events) {
        if (event === 'state') {
          if (until.has(data.state ?? '')) return;
          continue;
        }
        if (data.seq !== undefined && data.seq !== null) {
          if (data.seq <= seen) continue;
          seen = data.seq;
        }
        const step = data.details?.step ? `[${data.details.step}] ` : '';
        if (data.kind === 'step.waiting') {
          const key = data.details?.step ?? '';
          if (waiting.get(key) !== data.message) progress(`  ${step}waiting: ${data.message}`);
          waiting.set(key, data.message ?? '');
        } else if (data.kind === 'step.log') progress(`  ${step}${data.message}`);
        else if (data.kind?.startsWith('step.'))
          progress(`${step}${data.kind.slice(5)}${data.message ? `: ${data.message}` : ''}`);
        else if (data.state) progress(`→ ${data.state}${data.message ? `: ${data.message}` : ''}`);
        if (data.state && until.has(data.state)) return;
      }
    } catch (err) {
      if (controller.signal.aborted) break;
      if (err instanceof ApiError && err.status >= 400 && err.status < 500) throw err;
      await new Promise((r) => setTimeout(r, 1000));
    } finally {
      clearTimeout(timer);
    }
  }
  throw new TimeoutError(`gave up waiting after ${Math.round(timeoutMs / 1000)} s`);
}
class TimeoutError extends Error {}

/** What `/events` sends: `state` once (the state now), then `progress` events. */
interface ProgressEvent {
  seq?: number | null;
  kind?: string;
  state?: string | null;
  message?: string | null;
  details?: { step?: string } | null;
}

/** After waiting: the result, and exit 1 with the failing step's error when it did not come up. */
async function finish(client: Api, id: string, want: string) {
  const d = await client.get<Deployment>(`/api/deployments/${id}`);
  print(summary(d), d);
  if (d.state !== want) {
    process.exitCode = 1;
    if (d.error) progress(`failed${d.error.step ? ` in step ${d.error.step}` : ''}: ${d.error.message}`);
  }
}

program
  .command('login')
  .description('sign in to a control plane and store an API token for this user (in ~/.config/nullops)')
  .argument('<url>', 'the control plane, e.g. https://nullops.example.com')
  .option('-u, --username <name>', 'who signs in (asked for when not given)')
  .option('--token <token>', 'store this API token instead of signing in (e.g. one made in the UI)')
  .addOption(
    new Option('--access <level>', 'what the new token may do').choices(['read', 'full']).default('full'),
  )
  .option('--expires-in-days <days>', 'the new token expires after this many days', Number, 90)
  .action(async (rawUrl: string, o) => {
    const url = rawUrl.replace(/\/+$/, '');
    let token: string = o.token;
    if (!token) {
      const username = o.username ?? (await read({ prompt: 'username: ', output: process.stderr }));
      // Typed without echo (and nothing shown in its place) when on a terminal.
      const password =
        process.env.NULLOPS_PASSWORD ??
        (await read({ prompt: 'password: ', silent: true, replace: '', output: process.stderr }));
      const res = await new Api(url, {}).raw('POST', '/api/auth/login', { username, password });
      const body = (await res.json()) as { csrfToken?: string; error?: { message: string } };
      if (!res.ok) throw new ApiError(res.status, body.error?.message ?? `sign-in failed (${res.status})`);
      const cookie = res.headers
        .getSetCookie()
        .map((c) => c.split(';')[0])
        .join('; ');
      const session = new Api(url, { cookie, ...(body.csrfToken ? { csrf: body.csrfToken } : {}) });
      ({ token } = await session.post<{ token: string }>('/api/auth/tokens', {
        name: `nullops CLI on ${hostname()}`.slice(0, 100),
        access: o.access,
        expiresInDays: o.expiresInDays,
      }));
    }
    const me = await new Api(url, { token }).get<{ user: { username: string } }>('/api/auth/me');
    const path = await saveCredentials({ url, token });
    print(`logged in to ${url} as ${me.user.username} (token stored in ${path})`, {
      url,
      username: me.user.username,
      path,
    });
  });

program
  .command('deploy')
  .description('create a deployment (a retry with the same name and environment is the same request)')
  .argument('<project>', 'project name')
  .requiredOption('-e, --env <environment>', 'environment name')
  .requiredOption('-n, --name <name>', 'deployment name (a DNS label, unique in the environment)')
  .option('-t, --tag <service=tag>', 'a service version (repeat for several)', keyValue('--tag'))
  .option('-w, --wait', 'wait until it runs (or fails), showing each step; print the URLs')
  .addOption(timeout('how long --wait waits', 600_000, '10m'))
  .action(async (projectName: string, o) => {
    const client = await api();
    const [project, env] = await Promise.all([
      byName(client, 'projects', projectName),
      byName(client, 'environments', o.env),
    ]);
    const d = await client.post<Deployment>(
      `/api/projects/${project.id}/deployments`,
      { environmentId: env.id, name: o.name, tags: o.tag ?? {} },
      { 'idempotency-key': idempotencyKey(project.id, env.id, o.name, o.tag ?? {}) },
    );
    if (!o.wait) return print(summary(d), d);
    progress(`deploying ${d.name} (${project.name} in ${env.name})`);
    await follow(client, d.id, TERMINAL, o.timeout);
    await finish(client, d.id, 'running');
  });

program
  .command('ls')
  .description('list deployments you can see, newest first')
  .option('-p, --project <project>', 'only this project')
  .option('-e, --env <environment>', 'only this environment')
  .option('-a, --all', 'include deleted ones')
  .action(async (o) => {
    const client = await api();
    const query = new URLSearchParams({ limit: '500' });
    if (o.project) query.set('projectId', (await byName(client, 'projects', o.project)).id);
    if (o.env) query.set('environmentId', (await byName(client, 'environments', o.env)).id);
    if (o.all) query.set('includeDeleted', 'true');
    const { items } = await client.get<{ items: Deployment[] }>(`/api/deployments?${query}`);
    const rows = items.map((d) => [d.name, d.projectName, d.environmentName, d.state, d.expiresAt ?? '—']);
    const table: string[][] = [['NAME', 'PROJECT', 'ENVIRONMENT', 'STATE', 'EXPIRES'], ...rows];
    const widths = (table[0] ?? []).map((_, i) => Math.max(...table.map((r) => String(r[i]).length)));
    print(
      items.length
        ? table
            .map((r) =>
              r
                .map((c: string, i: number) => String(c).padEnd(widths[i] ?? 0))
                .join('  ')
                .trimEnd(),
            )
            .join('\n')
        : 'no deployments',
      items,
    );
  });

program
  .command('status')
  .description("a deployment's state, tags, expiry and service URLs")
  .argument('<deployment>', 'name or id')
  .option('-e, --env <environment>', 'the environment, when the name is used in several')
  .action(async (ref: string, o) => {
    const d = await deploymentOf(await api(), ref, o.env);
    print(summary(d), d);
  });

program
  .command('logs')
  .description("a service's log lines; with -f, follow new ones")
  .argument('<deployment>', 'name or id')
  .option('-s, --service <service>', 'which service (default: the first)')
  .option('-f, --follow', 'keep printing new lines')
  .option('--tail <lines>', 'how many earlier lines', Number, 200)
  .option('-e, --env <environment>', 'the environment, when the name is used in several')
  .action(async (ref: string, o) => {
    const client = await api();
    const d = await deploymentOf(client, ref, o.env);
    const service = o.service ?? d.services[0]?.name;
    if (!service) throw new UsageError(`${d.name} has no services yet`);
    const query = new URLSearchParams({ service, follow: o.follow ? 'true' : 'false', tail: String(o.tail) });
    const lines = client.events<{ line?: string; reason?: string }>(`/api/deployments/${d.id}/logs?${query}`);
    for await (const { event, data } of lines) {
      if (event === 'log')
        process.stdout.write(out() === 'json' ? `${JSON.stringify(data)}\n` : `${data.line}\n`);
      else if (event === 'end' && data?.reason && !/ended|finished|closed/.test(data.reason))
        progress(`log stream ended: ${data.reason}`);
    }
  });

program
  .command('extend')
  .description('push the auto-cleanup time back')
  .argument('<deployment>', 'name or id')
  .option('-e, --env <environment>', 'the environment, when the name is used in several')
  .option('--hours <n>', 'keep it this long from now (1 to 168; default: its TTL)', (v) => {
    if (!/^\d+$/.test(v)) throw new UsageError(`--hours must be a whole number of hours, not "${v}"`);
    return Number(v);
  })
  .action(async (ref: string, o) => {
    const client = await api();
    const d = await client.post<Deployment>(
      `/api/deployments/${(await deploymentOf(client, ref, o.env)).id}/extend`,
      o.hours ? { hours: o.hours } : {},
    );
    print(`${d.name} now expires ${d.expiresAt}`, d);
  });

program
  .command('clone')
  .description('a new deployment like this one (same tags unless --tag changes some)')
  .argument('<deployment>', 'name or id')
  .requiredOption('-n, --name <name>', 'name of the copy')
  .option('-t, --tag <service=tag>', 'a different service version (repeat for several)', keyValue('--tag'))
  .option('-w, --wait', 'wait until it runs (or fails)')
  .addOption(timeout('how long --wait waits', 600_000, '10m'))
  .option('-e, --env <environment>', 'the environment, when the name is used in several')
  .action(async (ref: string, o) => {
    const client = await api();
    const from = await deploymentOf(client, ref, o.env);
    const d = await client.post<Deployment>(`/api/deployments/${from.id}/clone`, {
      name: o.name,
      ...(o.tag ? { tags: o.tag } : {}),
    });
    if (!o.wait) return print(summary(d), d);
    await follow(client, d.id, TERMINAL, o.timeout);
    await finish(client, d.id, 'running');
  });

program
  .command('rm')
  .description('delete a deployment (while it deploys: cancel and roll back)')
  .argument('<deployment>', 'name or id')
  .option('-w, --wait', 'wait until everything of it is gone')
  .addOption(timeout('how long --wait waits', 300_000, '5m'))
  .option('-e, --env <environment>', 'the environment, when the name is used in several')
  .action(async (ref: string, o) => {
    const client = await api();
    const found = await deploymentOf(client, ref, o.env);
    const d = await client.request<Deployment>('DELETE', `/api/deployments/${found.id}`);
    if (!o.wait) return print(`${d.name}: ${d.state}`, d);
    await follow(client, d.id, new Set(['deleted']), o.timeout, 'none');
    await finish(client, d.id, 'deleted');
  });

for (const [action, what] of [
  [
    'redeploy',
    'rebuild a deployment on its node: remove what it has there and run its pipeline again with the same versions, name and URLs (the way out of a degraded or stuck deployment)',
  ],
  ['retry', 'run a failed deployment again, with the latest pipeline'],
] as const)
  program
    .command(action)
    .description(what)
    .argument('<deployment>', 'name or id')
    .option('-w, --wait', 'wait until it runs (or fails)')
    .addOption(timeout('how long --wait waits', 600_000, '10m'))
    .option('-e, --env <environment>', 'the environment, when the name is used in several')
    .action(async (ref: string, o) => {
      const client = await api();
      const found = await deploymentOf(client, ref, o.env);
      const d = await client.post<Deployment>(`/api/deployments/${found.id}/${action}`);
      if (!o.wait) return print(summary(d), d);
      await follow(client, d.id, TERMINAL, o.timeout, 'none');
      await finish(client, d.id, 'running');
    });

interface Operation {
  id: string;
  kind: string;
  service: string;
  state: 'queued' | 'running' | 'succeeded' | 'failed';
  message: string | null;
}

for (const [action, what] of [
  ['restart', 'restart one service of a running deployment (its container or pod, same volumes)'],
  ['stop', 'stop one service; it stays stopped until started'],
  ['start', 'start a stopped service again'],
] as const)
  program
    .command(action)
    .description(`${what}; queued behind the deployment's other operations`)
    .argument('<deployment>', 'name or id')
    .argument('<service>', 'the service')
    .option('--no-wait', 'do not wait for the result')
    .addOption(timeout('how long to wait', 300_000, '5m'))
    .option('-e, --env <environment>', 'the environment, when the name is used in several')
    .action(async (ref: string, service: string, o) => {
      const client = await api();
      const d = await deploymentOf(client, ref, o.env);
      let op = await client.post<Operation>(`/api/deployments/${d.id}/services/${service}/${action}`);
      const deadline = Date.now() + o.timeout;
      let said = '';
      while (o.wait && (op.state === 'queued' || op.state === 'running')) {
        const now = `${op.state}${op.message ? `: ${op.message}` : ''}`;
        if (now !== said) progress(`${action} ${service}: ${now}`);
        said = now;
        if (Date.now() > deadline) throw new TimeoutError(`${action} ${service} is still ${op.state}`);
        await new Promise((r) => setTimeout(r, 300));
        const { items } = await client.get<{ items: Operation[] }>(`/api/deployments/${d.id}/operations`);
        op = items.find((x) => x.id === op.id) ?? op;
      }
      print(`${action} ${service}: ${op.state}${op.message ? ` (${op.message})` : ''}`, op);
      if (op.state === 'failed') process.exitCode = 1;
    });

program
  .command('import')
  .description('import a docker-compose file as a project (admins); shows what maps and what does not')
  .argument('<file>', 'the compose file')
  .option('-n, --name <project>', "the project's name (default: the file's name:)")
  .option('--registry <name>', 'registry of images without a registry host')
  .option(
    '--selectable <service=pattern>',
    'a service whose tag is chosen per deployment',
    keyValue('--selectable'),
  )
  .option('--var <name=value>', 'a value for ${name} in the file (repeat for several)', keyValue('--var'))
  .option('--dry-run', 'only show the report')
  .action(async (file: string, o) => {
    const client = await api();
    const body: Record<string, unknown> = { compose: await readFile(file, 'utf8') };
    if (o.name) body.name = o.name;
    if (o.selectable) body.selectable = o.selectable;
    if (o.var) body.variables = o.var;
    if (o.registry) {
      const { items } = await client.get<{ items: { id: string; name: string }[] }>('/api/registries');
      const registry = items.find((r) => r.name === o.registry);
      if (!registry) throw new UsageError(`no registry "${o.registry}"`);
      body.registryId = registry.id;
    }
    const result = await client.post<{
      project: Project | null;
      pipelineVersion?: number;
      report: ComposeImportReport;
    }>('/api/projects/import', { ...body, dryRun: Boolean(o.dryRun) });
    const r = result.report;
    const lines = [
      `${o.dryRun ? 'would import' : 'imported'} project ${r.projectName}${result.pipelineVersion ? ` (pipeline v${result.pipelineVersion})` : ''}; budget ${r.budget.cpuMillicores}m CPU, ${r.budget.memoryMb} MiB (${r.budget.from})`,
      ...r.services.flatMap((s) => [
        `  ${s.name}: ${s.registryName}/${s.image} ${s.tagMode === 'pinned' ? `pinned ${s.tag}` : `selectable ${s.tagPattern}`}; mapped ${s.mapped.join(', ')}`,
        ...s.notes.map((n) => `    note: ${n}`),
      ]),
      ...(r.unmapped.length ? ['not imported:', ...r.unmapped.map((u) => `  ${u.path}: ${u.reason}`)] : []),
    ];
    print(lines.join('\n'), result);
  });

program.parseAsync().catch((err: unknown) => {
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`nullops: ${message}\n`);
  process.exitCode = err instanceof UsageError ? 2 : 1;
});
