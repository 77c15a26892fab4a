import { InputError } from '@nullops/plugin-sdk';
import { parse as shellWords } from 'shell-quote';
import type { ComposeFile, ComposeService } from './compose-file.js';

/**
 * Maps a validated compose file onto NullOps: one project service and one `container.service`
 * pipeline node per compose service, `depends_on` as edges. Everything it cannot carry over is
 * named in the report with the reason, so an admin sees what the import left behind.
 */

export interface KnownRegistry {
  id: string;
  name: string;
  url: string;
}

export interface ExistingService {
  id: string;
  name: string;
  registryId: string;
  image: string;
  tagMode: 'pinned' | 'selectable';
  tag: string | null;
  tagPattern: string | null;
}

export interface MappingOptions {
  registries: KnownRegistry[];
  /** Where images without a registry host come from (else Docker Hub, when it is a registry here). */
  registryId?: string | undefined;
  /** Compose service name → tag pattern: those services get a selectable tag. */
  selectable?: Record<string, string> | undefined;
  existing: ExistingService[];
  /** Per service whose file gives no limits. */
  defaultCpuMillicores: number;
  defaultMemoryMb: number;
}

export interface Unmapped {
  path: string;
  reason: string;
}

export interface MappedService {
  name: string;
  /** Its name in the compose file, when it had to change to be a DNS label. */
  composeName: string;
  registryId: string;
  registryName: string;
  image: string;
  tagMode: 'pinned' | 'selectable';
  tag: string | null;
  tagPattern: string | null;
  /** An existing service identical in every setting (name, registry, image, tags) is reused. */
  existingId: string | null;
  mapped: string[];
  notes: string[];
}

export interface ImportPlan {
  projectName: string | undefined;
  services: MappedService[];
  budget: { cpuMillicores: number; memoryMb: number; from: string };
  graph: {
    nodes: { id: string; type: string; params: Record<string, unknown> }[];
    edges: { from: string; to: string }[];
  };
  unmapped: Unmapped[];
}

const DOCKER_HUB_HOSTS = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);
const isDockerHub = (url: string) => DOCKER_HUB_HOSTS.has(new URL(url).host);

/** Why a compose key has no NullOps counterpart; the user reads these in the import report. */
const REASONS: Record<string, string> = {
  build: 'NullOps deploys images from a registry: build and push the image, and give the service an image',
  container_name: 'container names are made per deployment (many deployments run side by side)',
  hostname: 'a service is reached by its service name inside the deployment',
  links: 'services reach each other by service name inside the deployment',
  networks: 'each deployment has one network of its own; services reach each other by service name',
  network_mode: 'each deployment has one network of its own',
  privileged: 'deployment containers never get extra privileges',
  cap_add: 'deployment containers never get extra privileges',
  security_opt: 'deployment containers never get extra privileges',
  devices: 'deployment containers never get host devices',
  pid: 'deployment containers never share the host PID namespace',
  ipc: 'deployment containers never share IPC with the host',
  userns_mode: 'deployment containers never change the user namespace',
  restart: 'the agent keeps services running and reports crashes',
  logging: 'the agent collects every service log (see the deployment page or nullops logs)',
  env_file: 'files next to the compose file are not uploaded: put the variables under environment',
  secrets: 'files are not uploaded: use NullOps secrets in the pipeline',
  configs: 'files are not uploaded: use NullOps secrets or the environment',
  entrypoint: 'the container service runs the image entrypoint; only command can be changed',
  extra_hosts: 'host names inside a deployment are its service names',
  dns: 'deployments use the engine DNS of their own network',
  profiles: 'every service of the file is imported',
  expose: 'one port per service is routed; the first of ports or expose is used',
  labels: 'NullOps labels its containers itself',
  platform: 'the node runs images for its own platform',
  scale: 'one container per service',
};
const reasonFor = (key: string) => REASONS[key] ?? 'the container service component has no such setting';

/** Mapped or reported under another key, so not "unsupported". */
const HANDLED = new Set([
  'image',
  'environment',
  'command',
  'ports',
  'expose',
  'volumes',
  'healthcheck',
  'depends_on',
  'deploy',
  'cpus',
  'mem_limit',
  'pull_policy',
]);

export function toDnsLabel(name: string): string {
  return name
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63);
}

/** `1m30s`, `10s`, `500ms` → seconds. */
export function durationSeconds(text: string): number | undefined {
  const units: Record<string, number> = { h: 3600, m: 60, s: 1, ms: 0.001, us: 1e-6 };
  let total = 0;
  let rest = text.trim();
  if (!rest) return undefined;
  while (rest) {
    const m = /^(\d+(?:\.\d+)?)(h|ms|m|s|us)/.exec(rest);
    if (!m) return undefined;
    total += Number(m[1]) * (units[m[2] as string] as number);
    rest = rest.slice(m[0].length);
  }
  return total;
}

/** `512m`, `1g`, `1gb`, `268435456` → MiB, rounded up. */
export function memoryMiB(value: unknown): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([bkmg]?)b?$/i.exec(String(value).trim());
  if (!m) return undefined;
  const factor = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[
    (m[2] as string).toLowerCase()
  ] as number;
  return Math.ceil((Number(m[1]) * factor) / 1024 ** 2);
}

function containerPort(entry: unknown): number | undefined {
  if (typeof entry === 'number') return entry;
  if (entry && typeof entry === 'object') return Number((entry as { target?: unknown }).target) || undefined;
  const text = String(entry).replace(/\/tcp$/, '');
  if (text.endsWith('/udp')) return undefined;
  const last = text.split(':').pop() ?? '';
  const port = Number(last.split('-')[0]);
  return Number.isInteger(port) && port > 0 && port < 65536 ? port : undefined;
}

function words(command: string): string[] {
  // Compose splits a string command like a shell would, without running one; `$X` stays literal.
  return shellWords(command, (key) => `$${key}`).map((t) =>
    typeof t === 'string' ? t : 'op' in t ? (t.op === 'glob' ? t.pattern : t.op) : t.comment,
  );
}

interface ImageRef {
  host: string | undefined;
  path: string;
  tag: string | undefined;
}

function parseImage(ref: string): ImageRef | undefined {
  if (ref.includes('@')) return undefined;
  const slash = ref.lastIndexOf('/');
  const colon = ref.lastIndexOf(':');
  const tag = colon > slash ? ref.slice(colon + 1) : undefined;
  const name = colon > slash ? ref.slice(0, colon) : ref;
  const [first, ...rest] = name.split('/');
  const isHost = rest.length > 0 && (first?.includes('.') || first?.includes(':') || first === 'localhost');
  return { host: isHost ? first : undefined, path: isHost ? rest.join('/') : name, tag };
}

export function mapCompose(file: ComposeFile, options: MappingOptions): ImportPlan {
  const unmapped: Unmapped[] = [];
  for (const key of Object.keys(file)) {
    if (key === 'services' || key === 'name' || key === 'version' || key.startsWith('x-')) continue;
    if (key === 'volumes') continue;
    unmapped.push({
      path: key,
      reason: ['networks', 'secrets', 'configs'].includes(key)
        ? reasonFor(key)
        : 'not supported by the import',
    });
  }
  const composeNames = Object.keys(file.services);
  const nameOf = new Map(composeNames.map((n) => [n, toDnsLabel(n)]));
  const seen = new Map<string, string>();
  for (const [from, to] of nameOf) {
    if (!to) throw InputError.field(`compose.services.${from}`, 'needs a name with letters or digits');
    const clash = seen.get(to);
    if (clash)
      throw InputError.field(
        `compose.services.${from}`,
        `becomes "${to}" like "${clash}": rename one of them`,
      );
    seen.set(to, from);
  }

  const services: MappedService[] = [];
  const nodes: ImportPlan['graph']['nodes'] = [];
  const edges: ImportPlan['graph']['edges'] = [];
  let cpuTotal = 0;
  let memoryTotal = 0;
  let fromLimits = 0;

  for (const composeName of composeNames) {
    const s = file.services[composeName] as ComposeService;
    const name = nameOf.get(composeName) as string;
    const at = `compose.services.${composeName}`;
    const mapped: string[] = [];
    const notes: string[] = [];
    if (name !== composeName) notes.push(`renamed from "${composeName}" (service names are DNS labels)`);
    for (const key of Object.keys(s))
      if (!HANDLED.has(key) && !key.startsWith('x-'))
        unmapped.push({ path: `services.${composeName}.${key}`, reason: reasonFor(key) });

    // Image → registry + image + tag.
    if (typeof s.image !== 'string')
      throw InputError.field(
        `${at}.image`,
        `is required: ${s.build ? REASONS.build : 'NullOps deploys images from a registry'}`,
      );
    const ref = parseImage(s.image);
    if (!ref) throw InputError.field(`${at}.image`, 'is pinned by digest: import needs a tag (e.g. :1.2)');
    const registry = ref.host
      ? options.registries.find((r) =>
          DOCKER_HUB_HOSTS.has(ref.host as string) ? isDockerHub(r.url) : new URL(r.url).host === ref.host,
        )
      : options.registryId
        ? options.registries.find((r) => r.id === options.registryId)
        : options.registries.find((r) => isDockerHub(r.url));
    if (!registry)
      throw InputError.field(
        `${at}.image`,
        ref.host
          ? `comes from ${ref.host}, which is not a registry here: add it under Registries first`
          : 'has no registry host and no Docker Hub registry is set up: add one under Registries, or name the registry to use (registryId)',
      );
    const image = ref.path;
    if (!/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/.test(image))
      throw InputError.field(`${at}.image`, `"${image}" is not an image name (lowercase, e.g. team/app)`);
    const pattern = options.selectable?.[composeName];
    const tag = ref.tag ?? 'latest';
    if (!ref.tag) notes.push('no tag in the file: pinned to latest');
    mapped.push('image');

    const settings = {
      registryId: registry.id,
      image,
      tagMode: pattern ? ('selectable' as const) : ('pinned' as const),
      tag: pattern ? null : tag,
      tagPattern: pattern ?? null,
    };
    // Reused only when nothing differs, so what the report says is what the project gets; any
    // difference makes the project its own service (names are unique per project, not everywhere).
    const existing = options.existing.find(
      (e) =>
        e.name === name &&
        e.registryId === settings.registryId &&
        e.image === settings.image &&
        e.tagMode === settings.tagMode &&
        e.tag === settings.tag &&
        e.tagPattern === settings.tagPattern,
    );
    if (existing)
      notes.push('reuses the existing service of that name: it has the same image and tag settings');
    services.push({
      name,
      composeName,
      registryName: registry.name,
      ...settings,
      existingId: existing?.id ?? null,
      mapped,
      notes,
    });

    const params: Record<string, unknown> = { service: name };

    // Environment: a map or KEY=VALUE list; a bare KEY takes its value from the shell, not here.
    const env: Record<string, string> = {};
    const environment = s.environment;
    const entries: [string, unknown][] = Array.isArray(environment)
      ? environment.map((line: string) => {
          const eq = line.indexOf('=');
          return eq < 0 ? [line, null] : [line.slice(0, eq), line.slice(eq + 1)];
        })
      : Object.entries((environment as Record<string, unknown>) ?? {});
    for (const [key, value] of entries) {
      if (value === null || value === undefined) {
        unmapped.push({
          path: `services.${composeName}.environment.${key}`,
          reason: 'takes its value from the shell running compose: give it a value in the file',
        });
        continue;
      }
      env[key] = String(value);
    }
    if (entries.length) {
      params.env = env;
      mapped.push('environment');
    }

    if (s.command !== undefined && s.command !== null) {
      params.command = Array.isArray(s.command) ? s.command.map(String) : words(String(s.command));
      mapped.push('command');
    }

    // The port the ingress routes to: the first container port of ports, else of expose.
    const portList = (s.ports as unknown[] | undefined) ?? [];
    const exposeList = (s.expose as unknown[] | undefined) ?? [];
    const port = containerPort(portList[0] ?? exposeList[0]);
    if (port) {
      params.port = port;
      mapped.push(portList.length ? 'ports' : 'expose');
      if (portList.length > 1 || (portList.length && exposeList.length))
        unmapped.push({
          path: `services.${composeName}.ports`,
          reason: `one port per service is routed (${port}); the others are reachable inside the deployment only`,
        });
    } else if (portList.length || exposeList.length)
      unmapped.push({ path: `services.${composeName}.ports`, reason: 'only TCP ports can be routed' });

    // Named volumes live as long as the deployment; bind mounts would read the agent host's files.
    const volumes: Record<string, string> = {};
    for (const [i, v] of ((s.volumes as unknown[] | undefined) ?? []).entries()) {
      const long =
        typeof v === 'object' && v ? (v as { type?: string; source?: string; target?: string }) : undefined;
      const [source, target] = long ? [long.source, long.target] : String(v).split(':');
      const type =
        long?.type ?? (target === undefined ? 'anonymous' : /^[./~]/.test(source ?? '') ? 'bind' : 'volume');
      if (type !== 'volume' || !source || !target?.startsWith('/')) {
        unmapped.push({
          path: `services.${composeName}.volumes.${i}`,
          reason:
            type === 'bind'
              ? 'a bind mount reads files of the host: not portable to an agent node; bake them into the image or use a named volume'
              : type === 'anonymous'
                ? 'an anonymous volume: give it a name (name:/path) to import it'
                : `a ${type} mount is not supported`,
        });
        continue;
      }
      const volume = toDnsLabel(source);
      if (volume !== source) notes.push(`volume "${source}" is named "${volume}"`);
      volumes[volume] = target;
    }
    if (Object.keys(volumes).length) {
      params.volumes = volumes;
      mapped.push('volumes');
    }

    // Health check → the component's own (it waits for it before the services after it start).
    const hc = s.healthcheck as
      | {
          test?: string | string[];
          disable?: boolean;
          interval?: string;
          timeout?: string;
          retries?: number;
          start_period?: string;
        }
      | undefined;
    if (hc && !hc.disable) {
      const test = typeof hc.test === 'string' ? ['CMD-SHELL', hc.test] : hc.test;
      const command =
        test?.[0] === 'CMD'
          ? test.slice(1)
          : test?.[0] === 'CMD-SHELL'
            ? ['sh', '-c', test.slice(1).join(' ')]
            : undefined;
      if (command?.length) {
        params.healthCheck = { kind: 'command', command };
        const seconds = (d: string | undefined, fallback: number) =>
          d ? (durationSeconds(d) ?? fallback) : fallback;
        const budget =
          seconds(hc.start_period, 0) +
          (hc.retries ?? 3) * (seconds(hc.interval, 30) + seconds(hc.timeout, 30));
        params.healthTimeoutSeconds = Math.min(3600, Math.max(1, Math.ceil(budget)));
        mapped.push('healthcheck');
      } else if (test?.[0] !== 'NONE')
        unmapped.push({
          path: `services.${composeName}.healthcheck`,
          reason: 'its test is neither CMD nor CMD-SHELL',
        });
    }

    // Limits: deploy.resources.limits, or the older cpus / mem_limit.
    const deploy = (s.deploy ?? {}) as { resources?: { limits?: { cpus?: unknown; memory?: unknown } } };
    for (const key of Object.keys(deploy))
      if (key !== 'resources')
        unmapped.push({
          path: `services.${composeName}.deploy.${key}`,
          reason: 'one container per service, kept running by the agent',
        });
    const limits = deploy.resources?.limits ?? {};
    const cpus = Number(limits.cpus ?? s.cpus);
    const memory = memoryMiB(limits.memory ?? s.mem_limit ?? '');
    if (cpus > 0) {
      params.cpuMillicores = Math.max(1, Math.round(cpus * 1000));
      mapped.push(limits.cpus !== undefined ? 'deploy.resources.limits.cpus' : 'cpus');
    }
    if (memory) {
      params.memoryMb = Math.max(4, memory);
      mapped.push(limits.memory !== undefined ? 'deploy.resources.limits.memory' : 'mem_limit');
    }
    cpuTotal += (params.cpuMillicores as number | undefined) ?? options.defaultCpuMillicores;
    memoryTotal += (params.memoryMb as number | undefined) ?? options.defaultMemoryMb;
    if (params.cpuMillicores || params.memoryMb) fromLimits++;

    if (s.pull_policy === 'always' || s.pull_policy === 'missing' || s.pull_policy === 'if_not_present') {
      params.pull = s.pull_policy === 'always' ? 'always' : 'missing';
      mapped.push('pull_policy');
    } else if (s.pull_policy)
      unmapped.push({
        path: `services.${composeName}.pull_policy`,
        reason: 'the node pulls images itself (always or missing)',
      });

    // depends_on: an edge — the service starts once the one it depends on has started (and is
    // healthy, when it has a health check).
    const deps = s.depends_on;
    const depEntries: [string, string][] = Array.isArray(deps)
      ? deps.map((d: string) => [d, 'service_started'])
      : Object.entries((deps as Record<string, { condition: string }>) ?? {}).map(([d, c]) => [
          d,
          c.condition,
        ]);
    for (const [dep, condition] of depEntries) {
      const target = nameOf.get(dep);
      if (!target)
        throw InputError.field(`${at}.depends_on`, `names "${dep}", which is not a service of the file`);
      edges.push({ from: target, to: name });
      if (condition === 'service_completed_successfully')
        notes.push(`depends_on.${dep}: waits until ${dep} has started, not until it has exited`);
      if (condition === 'service_healthy' && !(file.services[dep] as ComposeService).healthcheck)
        notes.push(`depends_on.${dep}: ${dep} has no health check, so this waits until it has started`);
    }
    if (depEntries.length) mapped.push('depends_on');
    nodes.push({ id: name, type: 'container.service', params });
  }

  return {
    projectName: file.name ? toDnsLabel(file.name) : undefined,
    services,
    budget: {
      cpuMillicores: Math.max(10, cpuTotal),
      memoryMb: Math.max(16, memoryTotal),
      from:
        fromLimits === composeNames.length
          ? 'the services’ limits'
          : fromLimits
            ? `the services’ limits, and ${options.defaultCpuMillicores}m CPU / ${options.defaultMemoryMb} MiB for each service without`
            : `${options.defaultCpuMillicores}m CPU / ${options.defaultMemoryMb} MiB per service (the file gives no limits)`,
    },
    graph: { nodes, edges },
    unmapped,
  };
}
