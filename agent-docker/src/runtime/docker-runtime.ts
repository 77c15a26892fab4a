import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { inOneLine, probeAddress } from '@nullops/kernel';
import {
  type ClaimHolder,
  confinementOf,
  type DeploymentBudget,
  type ExecResult,
  FIRST_PARTY_RUNTIMES,
  type HealthCheck,
  type HealthResult,
  type JobSpec,
  type LogLine,
  type PullProgress,
  RESTRICTED_DISK_MB,
  type RegistryAuth,
  RUNTIME_LABELS,
  type Runtime,
  type RuntimeOwner,
  type ServiceEndpoint,
  type ServiceSpec,
  type ServiceState,
  type ServiceUsage,
} from '@nullops/plugin-sdk';
import Docker from 'dockerode';
import { deploymentLabels, dockerNames, ownerLabels, SPEC_HASH_LABEL, specHash } from './docker-names.js';
import { collectOutput, demuxLines } from './docker-streams.js';
import { HostFirewall, type HostIsolation } from './host-firewall.js';

export interface DockerRuntimeOptions {
  docker?: Docker;
  /**
   * Whose resources this runtime makes and touches (the agent learns it from the control plane):
   * every resource is labelled with it, and nothing without it is listed or removed.
   */
  owner: RuntimeOwner | (() => RuntimeOwner);
  /** Whether deployment networks are kept off the host's own ports (default `auto`). */
  hostIsolation?: HostIsolation;
}

// Capabilities most images need to start (switching user, owning files, binding :80); all others dropped.
const isNotFound = (err: unknown) => (err as { statusCode?: number }).statusCode === 404;

/** The Runtime on a Docker engine, through dockerode. See the SDK's Runtime docs for the mapping. */
export class DockerRuntime implements Runtime {
  readonly kind = FIRST_PARTY_RUNTIMES.docker.kind;
  readonly engine = FIRST_PARTY_RUNTIMES.docker.engine;
  readonly capabilities = FIRST_PARTY_RUNTIMES.docker.capabilities;
  readonly docker: Docker;
  private readonly ownerOf: () => RuntimeOwner;
  readonly firewall: HostFirewall;
  private readonly isolation: HostIsolation;

  constructor(options: DockerRuntimeOptions) {
    this.docker = options.docker ?? new Docker();
    const { owner } = options;
    this.ownerOf = typeof owner === 'function' ? owner : () => owner;
    this.isolation = options.hostIsolation ?? 'auto';
    this.firewall = new HostFirewall(this.isolation, this.ownerOf);
  }

  /** The installation and node this runtime works for. */
  get owner(): RuntimeOwner {
    return this.ownerOf();
  }

  /** CPU and memory of the engine's host. */
  async capacity(): Promise<{ cpuMillicores: number; memoryMb: number }> {
    const info = await this.docker.info();
    return { cpuMillicores: info.NCPU * 1000, memoryMb: Math.floor(info.MemTotal / 1024 / 1024) };
  }

  private readonly preparing = new Map<string, Promise<void>>();

  /**
   * Parallel pipeline branches prepare the same deployment at once, and Docker does not make
   * "create if missing" atomic (two networks with one name would follow), so calls are shared.
   */
  prepareDeployment(deploymentId: string, _options?: { budget?: DeploymentBudget }): Promise<void> {
    let pending = this.preparing.get(deploymentId);
    if (!pending) {
      pending = this.createNetwork(deploymentId).finally(() => this.preparing.delete(deploymentId));
      this.preparing.set(deploymentId, pending);
    }
    return pending;
  }

  private async createNetwork(deploymentId: string): Promise<void> {
    const name = dockerNames.network(deploymentId);
    try {
      await this.docker.getNetwork(name).inspect();
    } catch (err) {
      if (!isNotFound(err)) throw err;
      // A user-defined bridge per deployment: DNS by service name inside, isolation from other deployments.
      await this.docker.createNetwork({
        Name: name,
        Driver: 'bridge',
        Labels: deploymentLabels(this.owner, deploymentId),
        CheckDuplicate: true,
      });
    }
    const network = await this.docker.getNetwork(name).inspect();
    await this.firewall.protect({ deploymentId, bridge: bridgeOf(network) });
    const off = await this.firewall.unavailable();
    if (off && this.isolation === 'required')
      throw new Error(
        `deployments must be kept off this host's ports (NULLOPS_HOST_ISOLATION=required), but ${off}`,
      );
  }

  async pullImage(
    image: string,
    auth?: RegistryAuth,
    onProgress?: (p: PullProgress) => void,
    signal?: AbortSignal,
  ) {
    let stream: NodeJS.ReadableStream;
    try {
      stream = (await this.docker.pull(
        image,
        auth ? { authconfig: auth, abortSignal: signal } : { abortSignal: signal },
      )) as NodeJS.ReadableStream;
    } catch (err) {
      throw new Error(`cannot pull the image ${image}: ${engineMessage(err)}`);
    }
    const layers = new Map<string, { current: number; total: number }>();
    await new Promise<void>((resolve, reject) => {
      this.docker.modem.followProgress(
        stream,
        (err: Error | null) =>
          err ? reject(new Error(`cannot pull the image ${image}: ${engineMessage(err)}`)) : resolve(),
        (event: {
          status?: string;
          id?: string;
          error?: string;
          progressDetail?: { current?: number; total?: number };
        }) => {
          if (event.error) return;
          if (event.id && event.progressDetail?.total) {
            layers.set(event.id, {
              current: event.progressDetail.current ?? 0,
              total: event.progressDetail.total,
            });
          }
          const all = [...layers.values()];
          const total = all.reduce((s, l) => s + l.total, 0);
          const fraction = total ? all.reduce((s, l) => s + l.current, 0) / total : undefined;
          onProgress?.({
            image,
            status: event.status ?? '',
            ...(fraction === undefined ? {} : { fraction }),
          });
        },
      );
    });
  }

  private async ensureImage(image: string, auth?: RegistryAuth, signal?: AbortSignal) {
    try {
      await this.docker.getImage(image).inspect();
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await this.pullImage(image, auth, undefined, signal);
    }
  }

  /**
   * The restricted profile runs no image as root: one whose USER is root (or unset) and that names
   * no `runAsUser` is refused in plain words, as Kubernetes' runAsNonRoot refuses it.
   */
  private async refuseRootImage(spec: ServiceSpec): Promise<void> {
    const user = (await this.docker.getImage(spec.image).inspect()).Config?.User ?? '';
    const name = user.split(':')[0] ?? '';
    if (name === '' || name === '0' || name === 'root')
      throw new Error(
        `${spec.name}: the image runs as root, which the restricted security profile does not allow; give the service a runAsUser, build the image with a non-root USER, or use the baseline profile`,
      );
  }

  /**
   * Starts the service's container, or keeps the one that runs this very spec (a pipeline run
   * again after an agent restart). The common case — nothing there yet, network and image in
   * place — is three engine calls (create, start, inspect); checking the network, the image and an
   * existing container first cost four more, on every service of every deployment (benchmark P1),
   * so they happen only when the create says they are needed.
   */
  async startService(
    deploymentId: string,
    spec: ServiceSpec,
    auth?: RegistryAuth,
    signal?: AbortSignal,
  ): Promise<ServiceState> {
    signal?.throwIfAborted();
    const name = dockerNames.container(deploymentId, spec.name);
    const hash = specHash(spec);
    for (const volume of Object.keys(spec.volumes ?? {})) {
      await this.docker.createVolume({
        Name: dockerNames.volume(deploymentId, volume),
        Labels: deploymentLabels(this.owner, deploymentId),
      });
    }
    const network = dockerNames.network(deploymentId);
    const portKey = spec.port ? `${spec.port}/tcp` : undefined;
    const confinement = confinementOf(spec.security);
    const create = async () => {
      // A missing image answers 404 here as the create would: it is pulled and this runs again.
      if (confinement.restricted && confinement.runAsUser === undefined) await this.refuseRootImage(spec);
      return this.docker.createContainer({
        name,
        Image: spec.image,
        ...(spec.command?.length ? { Cmd: spec.command } : {}),
        Env: Object.entries(spec.env ?? {}).map(([k, v]) => `${k}=${v}`),
        Labels: {
          ...deploymentLabels(this.owner, deploymentId),
          [RUNTIME_LABELS.service]: spec.name,
          [SPEC_HASH_LABEL]: hash,
        },
        ...(portKey ? { ExposedPorts: { [portKey]: {} } } : {}),
        ...(confinement.runAsUser !== undefined ? { User: String(confinement.runAsUser) } : {}),
        HostConfig: {
          NetworkMode: network,
          // An init process reaps zombies and forwards SIGTERM (busybox as PID 1 ignores it).
          Init: true,
          Privileged: false,
          SecurityOpt: ['no-new-privileges:true'],
          CapDrop: ['ALL'],
          CapAdd: confinement.capabilities,
          // Restricted: nothing written outside volumes but to small tmpfs directories (/tmp and
          // the declared paths), bounded by the disk limit. A path the image has keeps its
          // content and mode (Docker copies them up), so it is given to the service's user.
          ...(confinement.restricted
            ? {
                ReadonlyRootfs: true,
                Tmpfs: Object.fromEntries(
                  confinement.writablePaths.map((path) => [
                    path,
                    [
                      'rw,nosuid,nodev,mode=1777',
                      `size=${confinement.diskMb ?? RESTRICTED_DISK_MB}m`,
                      ...(confinement.runAsUser !== undefined ? [`uid=${confinement.runAsUser}`] : []),
                    ].join(','),
                  ]),
                ),
              }
            : {}),
          Memory: spec.memoryMb * 1024 * 1024,
          MemorySwap: spec.memoryMb * 1024 * 1024,
          NanoCpus: spec.cpuMillicores * 1_000_000,
          PidsLimit: 1024,
          RestartPolicy: { Name: 'unless-stopped' },
          LogConfig: { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '3' } },
          // Only named volumes of this deployment: never host paths, never the Docker socket.
          Mounts: Object.entries(spec.volumes ?? {}).map(([volume, target]) => ({
            Type: 'volume' as const,
            Source: dockerNames.volume(deploymentId, volume),
            Target: target,
          })),
        },
        NetworkingConfig: { EndpointsConfig: { [network]: { Aliases: [spec.name] } } },
      });
    };
    const status = (err: unknown) => (err as { statusCode?: number }).statusCode;
    try {
      const container = await create();
      try {
        await container.start();
        return await this.inspectService(deploymentId, spec.name);
      } catch (err) {
        // The engine creates a container on a network that does not exist; starting it says so.
        if (status(err) !== 404) throw err;
        await container.remove({ force: true });
      }
    } catch (err) {
      if (status(err) === 409) {
        // A container of that name exists: the same spec is kept (started if it stopped), another
        // replaced — and so is one an older agent made without the owner labels (the name holds
        // the deployment's id, so it is this deployment's).
        const existing = await this.docker.getContainer(name).inspect();
        const labels = existing.Config.Labels ?? {};
        if (labels[SPEC_HASH_LABEL] === hash && labels[RUNTIME_LABELS.node] === this.owner.nodeId) {
          if (!existing.State.Running) await this.docker.getContainer(name).start();
          return this.inspectService(deploymentId, spec.name);
        }
        await this.docker.getContainer(name).remove({ force: true });
      } else if (status(err) !== 404) throw err;
    }
    // The image or the deployment's network was not there yet (404), or another spec was replaced.
    await this.prepareDeployment(deploymentId);
    await this.ensureImage(spec.image, auth, signal);
    signal?.throwIfAborted();
    const container = await create();
    await container.start();
    return this.inspectService(deploymentId, spec.name);
  }

  async inspectService(deploymentId: string, name: string): Promise<ServiceState> {
    let info: Docker.ContainerInspectInfo;
    try {
      info = await this.docker.getContainer(dockerNames.container(deploymentId, name)).inspect();
    } catch (err) {
      if (isNotFound(err)) return { name, ref: '', status: 'missing' };
      throw err;
    }
    const running = info.State.Running && !info.State.Restarting;
    // A container running again after crashes still says how it last ended (its health shows it).
    const failure = running && !info.RestartCount ? undefined : await this.failureOf(info);
    return {
      name,
      ref: info.Id,
      status: running ? 'running' : 'stopped',
      startedAt: info.State.StartedAt,
      restartCount: info.RestartCount ?? 0,
      ...(failure?.exitCode !== undefined ? { exitCode: failure.exitCode } : {}),
      ...(info.State.Restarting ? { restarting: true } : {}),
      ...(failure ? { reason: failure.reason } : {}),
    };
  }

  /** Docker has no ingress of its own (the control plane's ingress reaches services through the edge). */
  async publishRoutes(): Promise<void> {
    throw new Error('the Docker runtime has no ingress of its own: its capabilities say so');
  }

  /** Nothing to stop: each watch is stopped by what `watchServices` returned. */
  async close(): Promise<void> {}

  /**
   * Follows the engine's events for this agent's containers — exits, restarts, OOM kills,
   * starts — and says which service each is about. The stream is opened again (after a pause)
   * when it ends (the engine restarted, say), from a little before the last event it gave: the
   * engine replays what happened in between, so no crash goes unseen (a repeat only asks for one
   * more look).
   */
  watchServices(onChange: (deploymentId: string, service: string) => void): () => void {
    let stopped = false;
    let current: NodeJS.ReadableStream | undefined;
    let retry: NodeJS.Timeout | undefined;
    /** Seconds (the engine's clock) from which a reopened stream replays. */
    let since: number | undefined;
    const follow = async () => {
      if (stopped) return;
      const opened = Date.now() / 1000;
      try {
        const stream = (await this.docker.getEvents({
          ...(since !== undefined ? { since: Math.floor(since) - 1 } : {}),
          filters: {
            type: ['container'],
            label: this.owned().label,
            event: ['start', 'die', 'oom', 'restart', 'stop', 'kill', 'destroy', 'health_status'],
          },
        })) as unknown as NodeJS.ReadableStream;
        current = stream;
        if (stopped) (stream as unknown as { destroy?: () => void }).destroy?.();
        let rest = '';
        stream.on('data', (chunk: Buffer) => {
          const lines = (rest + chunk.toString('utf8')).split('\n');
          rest = lines.pop() ?? '';
          for (const line of lines) {
            const event = parseEvent(line);
            if (event?.time) since = event.time;
            const labels = event?.Actor?.Attributes ?? {};
            const deployment = labels[RUNTIME_LABELS.deployment];
            const service = labels[RUNTIME_LABELS.service];
            if (deployment && service) onChange(deployment, service);
          }
        });
        since ??= opened;
        const again = () => {
          if (!stopped && current === stream) retry = setTimeout(() => void follow(), 2000);
        };
        stream.on('end', again);
        stream.on('error', again);
      } catch {
        if (!stopped) retry = setTimeout(() => void follow(), 2000);
      }
    };
    void follow();
    return () => {
      stopped = true;
      clearTimeout(retry);
      (current as unknown as { destroy?: () => void } | undefined)?.destroy?.();
    };
  }

  /**
   * Why a container is not steadily running, in plain words with its last lines, and the exit
   * code it last ended with; undefined while it runs as it should. Docker restarts a crashed container by itself (its restart policy)
   * and a restart wipes the crash from the container's state, so the engine's events since the
   * container was created tell whether it died and whether the kernel's OOM killer did it.
   */
  private async failureOf(
    info: Docker.ContainerInspectInfo,
  ): Promise<{ reason: string; exitCode: number } | undefined> {
    const state = info.State;
    const restarts = info.RestartCount ?? 0;
    if (state.Running && !state.Restarting && !restarts) return undefined;
    const name = info.Config.Labels?.[RUNTIME_LABELS.service] ?? info.Name.replace(/^\//, '');
    const events = await this.eventsOf(info.Id, info.Created);
    const oom = state.OOMKilled || events.some((e) => e.Action === 'oom');
    const died = events.filter((e) => e.Action === 'die').at(-1);
    const exitCode = died?.Actor?.Attributes?.exitCode ?? String(state.ExitCode);
    const limit = Math.round((info.HostConfig.Memory ?? 0) / 1024 / 1024);
    const again = restarts ? ` and keeps crashing (restarted ${restarts}×)` : '';
    const what = oom
      ? `${name} was killed for using more memory than its limit${limit ? ` (${limit} MiB)` : ''} (OOMKilled)${again}`
      : `${name} exited with code ${exitCode}${again}`;
    const last = await this.lastLines(info.Id, 10);
    return { reason: last ? `${what}; last lines: ${last}` : what, exitCode: Number(exitCode) };
  }

  /** The engine's `die` and `oom` events of a container since it was created. */
  private async eventsOf(
    id: string,
    created: string,
  ): Promise<{ Action: string; Actor?: { Attributes?: Record<string, string> } }[]> {
    const since = Math.floor(Date.parse(created) / 1000) - 1;
    const raw = (await this.docker
      .getEvents({
        since,
        // Now, to the millisecond: the engine holds the answer open until `until` (a whole second
        // ahead would be a second's wait on every look at a crashed container).
        until: (Date.now() / 1000).toFixed(3) as unknown as number,
        filters: { container: [id], event: ['die', 'oom'] },
      })
      .catch(() => undefined)) as unknown as NodeJS.ReadableStream | Buffer | undefined;
    if (!raw) return [];
    const text = Buffer.isBuffer(raw) ? raw.toString('utf8') : await streamText(raw);
    return text.split('\n').flatMap((l) => {
      const event = parseEvent(l);
      return event?.Action ? [event as { Action: string }] : [];
    });
  }

  private async lastLines(id: string, count: number): Promise<string> {
    const logs = (await this.docker
      .getContainer(id)
      .logs({ stdout: true, stderr: true, follow: false, tail: count })
      .catch(() => Buffer.alloc(0))) as unknown as Buffer;
    return demuxBuffer(logs).trim().split('\n').slice(-count).join(' | ').slice(-1500);
  }

  async serviceEndpoint(
    deploymentId: string,
    name: string,
    port: number,
  ): Promise<ServiceEndpoint | undefined> {
    // Gone is "nowhere"; an engine that does not answer is an error (the edge then serves where
    // the service answered last).
    const info = await this.docker
      .getContainer(dockerNames.container(deploymentId, name))
      .inspect()
      .catch((err) => {
        if (isNotFound(err)) return undefined;
        throw err;
      });
    if (!info?.State.Running) return undefined;
    const host = info.NetworkSettings.Networks?.[dockerNames.network(deploymentId)]?.IPAddress;
    return host ? { host, port } : undefined;
  }

  /** Restarts the container (stopped or running), keeping it: same id, same volumes. */
  async restartService(deploymentId: string, name: string): Promise<ServiceState> {
    await this.docker.getContainer(dockerNames.container(deploymentId, name)).restart({ t: 5 });
    return this.inspectService(deploymentId, name);
  }

  async stopService(deploymentId: string, name: string): Promise<ServiceState> {
    await this.docker
      .getContainer(dockerNames.container(deploymentId, name))
      .stop({ t: 10 })
      .catch((err) => {
        // 304: it was not running.
        if ((err as { statusCode?: number }).statusCode !== 304) throw err;
      });
    return this.inspectService(deploymentId, name);
  }

  async removeService(deploymentId: string, name: string): Promise<void> {
    await this.docker
      .getContainer(dockerNames.container(deploymentId, name))
      .remove({ force: true, v: true })
      .catch((err) => {
        if (!isNotFound(err)) throw err;
      });
  }

  async checkHealth(
    deploymentId: string,
    name: string,
    check: HealthCheck,
    timeoutMs: number,
  ): Promise<HealthResult> {
    const info = await this.docker
      .getContainer(dockerNames.container(deploymentId, name))
      .inspect()
      .catch((err) => {
        if (isNotFound(err)) throw new Error(`${name} is gone (its container was removed)`);
        throw err;
      });
    // A service that died (or crash-loops) will not become healthy: say why now, not at the timeout.
    if (!info.State.Running || info.State.Restarting || info.State.OOMKilled) {
      const failure = await this.failureOf(info);
      if (failure) throw new Error(failure.reason);
    }
    if (check.kind === 'command') {
      const result = await this.exec(deploymentId, name, check.command, timeoutMs);
      // The command's last words say why it failed ("connection refused", "not ready").
      const said = inOneLine(result.output, 300, 'end');
      return {
        healthy: result.exitCode === 0,
        detail: `exit code ${result.exitCode}${said ? `: ${said}` : ''}`,
      };
    }
    const exposed = Object.keys(info.Config.ExposedPorts ?? {})[0];
    const port = check.port ?? (exposed ? Number.parseInt(exposed, 10) : undefined);
    if (!port) return { healthy: false, detail: `${name} declares no port to check` };
    const address = await this.serviceEndpoint(deploymentId, name, port);
    if (!address) return { healthy: false, detail: `${name} has no address on its network yet` };
    return probeAddress(address, check, timeoutMs);
  }

  async exec(deploymentId: string, name: string, command: string[], timeoutMs: number): Promise<ExecResult> {
    const container = this.docker.getContainer(dockerNames.container(deploymentId, name));
    const exec = await container.exec({ Cmd: command, AttachStdout: true, AttachStderr: true });
    const stream = await exec.start({ hijack: true, stdin: false });
    const output = await withTimeout(
      collectOutput(this.docker, stream),
      timeoutMs,
      () => stream.destroy(),
      `exec in ${name}`,
    );
    const { ExitCode } = await exec.inspect();
    return { exitCode: ExitCode ?? -1, output };
  }

  async runJob(deploymentId: string, spec: JobSpec, signal?: AbortSignal): Promise<ExecResult> {
    await this.prepareDeployment(deploymentId);
    await this.ensureImage(spec.image);
    const container = await this.docker.createContainer({
      name: dockerNames.job(deploymentId, spec.name, randomBytes(3).toString('hex')),
      Image: spec.image,
      Cmd: spec.command,
      Env: Object.entries(spec.env ?? {}).map(([k, v]) => `${k}=${v}`),
      Labels: { ...deploymentLabels(this.owner, deploymentId), [RUNTIME_LABELS.job]: spec.name },
      HostConfig: {
        NetworkMode: dockerNames.network(deploymentId),
        Init: true,
        SecurityOpt: ['no-new-privileges:true'],
        CapDrop: ['ALL'],
        Memory: (spec.memoryMb ?? 128) * 1024 * 1024,
        NanoCpus: (spec.cpuMillicores ?? 250) * 1_000_000,
        PidsLimit: 512,
      },
    });
    try {
      await container.start();
      const stop = () => void container.kill().catch(() => {});
      signal?.addEventListener('abort', stop, { once: true });
      try {
        const waited = (await withTimeout(
          container.wait(),
          spec.timeoutMs ?? 600_000,
          stop,
          `job ${spec.name}`,
        )) as { StatusCode: number };
        const logs = (await container.logs({
          stdout: true,
          stderr: true,
          follow: false,
        })) as unknown as Buffer;
        return { exitCode: waited.StatusCode, output: demuxBuffer(logs) };
      } finally {
        signal?.removeEventListener('abort', stop);
      }
    } finally {
      await container.remove({ force: true, v: true }).catch(() => {});
    }
  }

  async *logs(
    deploymentId: string,
    name: string,
    options: { follow: boolean; tail?: number; signal?: AbortSignal },
  ): AsyncIterable<LogLine> {
    const container = this.docker.getContainer(dockerNames.container(deploymentId, name));
    const stream = (await container.logs({
      follow: options.follow as true,
      stdout: true,
      stderr: true,
      timestamps: true,
      tail: options.tail ?? 200,
    })) as unknown as NodeJS.ReadableStream | Buffer;
    yield* demuxLines(this.docker, stream, name, options.signal);
  }

  /** Filters for this installation's and node's resources, optionally of one deployment. */
  private owned(deploymentId?: string) {
    const label = Object.entries(ownerLabels(this.owner)).map(([k, v]) => `${k}=${v}`);
    if (deploymentId) label.push(`${RUNTIME_LABELS.deployment}=${deploymentId}`);
    return { label };
  }

  /** Every named volume of the service is still there (a removed container keeps its volumes). */
  async hasData(deploymentId: string, spec: ServiceSpec): Promise<boolean> {
    for (const volume of Object.keys(spec.volumes ?? {})) {
      const found = await this.docker
        .getVolume(dockerNames.volume(deploymentId, volume))
        .inspect()
        .then(
          () => true,
          (err) => {
            if (isNotFound(err)) return false;
            throw err;
          },
        );
      if (!found) return false;
    }
    return true;
  }

  /**
   * The engine has no lease object, so a claim is a labelled volume per renewal (created, the
   * previous one removed): its labels say who holds the node's resources and when they last said
   * so. A holder on this very host whose process is gone (a kill -9) frees the claim at once; one
   * elsewhere frees it once it stops renewing. When two processes claim at once, the earlier
   * claim wins and the later one is withdrawn.
   */
  async claim(
    holder: ClaimHolder,
    staleAfterMs: number,
  ): Promise<{ held: true } | { held: false; by: string }> {
    const mine = (v: Docker.VolumeInspectInfo) => v.Labels?.[CLAIM_LABELS.holder] === holder.instance;
    const live = (v: Docker.VolumeInspectInfo) => !mine(v) && claimIsLive(v.Labels ?? {}, staleAfterMs);
    const winner = (claims: Docker.VolumeInspectInfo[]) =>
      claims.filter(live).sort((a, b) => claimOrder(a.Labels ?? {}, b.Labels ?? {}))[0];
    const before = await this.claims();
    const other = winner(before);
    if (other && claimOrder(other.Labels ?? {}, claimLabels(holder, 0)) < 0)
      return { held: false, by: describeClaim(other.Labels ?? {}) };
    const renewedAt = Date.now();
    await this.docker.createVolume({
      Name: dockerNames.claim(this.owner.nodeId, holder.instance, renewedAt),
      Labels: { ...ownerLabels(this.owner), ...claimLabels(holder, renewedAt) },
    });
    // Older renewals of ours, and claims nobody renews any more, go.
    await Promise.all(
      before
        .filter((v) => (mine(v) ? true : !claimIsLive(v.Labels ?? {}, staleAfterMs)))
        .map((v) => this.docker.getVolume(v.Name).remove().catch(ignoreMissing)),
    );
    const after = winner(await this.claims());
    if (after && claimOrder(after.Labels ?? {}, claimLabels(holder, renewedAt)) < 0) {
      await this.release(holder);
      return { held: false, by: describeClaim(after.Labels ?? {}) };
    }
    // While it holds the node, every renewal puts the host firewall back as the networks say (a
    // host reboot or a firewall reload drops rules; a network removed behind its back leaves one).
    const networks = await this.docker.listNetworks({ filters: this.owned() });
    await this.firewall.sync(
      networks.flatMap((n) => {
        const deploymentId = n.Labels?.[RUNTIME_LABELS.deployment];
        return deploymentId ? [{ deploymentId, bridge: bridgeOf(n) }] : [];
      }),
    );
    return { held: true };
  }

  async release(holder: ClaimHolder): Promise<void> {
    const mine = (await this.claims()).filter((v) => v.Labels?.[CLAIM_LABELS.holder] === holder.instance);
    await Promise.all(mine.map((v) => this.docker.getVolume(v.Name).remove().catch(ignoreMissing)));
  }

  private async claims(): Promise<Docker.VolumeInspectInfo[]> {
    const label = [...this.owned().label, CLAIM_LABELS.holder];
    return (await this.docker.listVolumes({ filters: { label } })).Volumes ?? [];
  }

  async usage(): Promise<ServiceUsage[]> {
    const containers = await this.docker.listContainers({ filters: this.owned() });
    const results = await Promise.all(
      containers.map(async (c) => {
        const stats = (await this.docker
          .getContainer(c.Id)
          .stats({ stream: false })
          .catch(() => undefined)) as Docker.ContainerStats | undefined;
        // A container that stopped or vanished while being read has no numbers: skip it alone.
        if (!stats?.cpu_stats?.cpu_usage || !stats.memory_stats) return undefined;
        const cpuDelta =
          stats.cpu_stats.cpu_usage.total_usage - (stats.precpu_stats?.cpu_usage?.total_usage ?? 0);
        const systemDelta =
          (stats.cpu_stats.system_cpu_usage ?? 0) - (stats.precpu_stats?.system_cpu_usage ?? 0);
        const cpus = stats.cpu_stats.online_cpus ?? 1;
        const cache = (stats.memory_stats.stats as { cache?: number } | undefined)?.cache ?? 0;
        return {
          deploymentId: c.Labels[RUNTIME_LABELS.deployment] ?? '',
          service: c.Labels[RUNTIME_LABELS.service] ?? c.Labels[RUNTIME_LABELS.job] ?? '',
          cpuPercent: systemDelta > 0 ? (cpuDelta / systemDelta) * cpus * 100 : 0,
          memoryBytes: Math.max(0, (stats.memory_stats.usage ?? 0) - cache),
          memoryLimitBytes: stats.memory_stats.limit ?? 0,
        };
      }),
    );
    return results.filter((r): r is ServiceUsage => r !== undefined);
  }

  async listDeployments(): Promise<string[]> {
    const filters = this.owned();
    const [containers, networks, volumes] = await Promise.all([
      this.docker.listContainers({ all: true, filters }),
      this.docker.listNetworks({ filters }),
      this.docker.listVolumes({ filters }),
    ]);
    const ids = [
      ...containers.map((c) => c.Labels[RUNTIME_LABELS.deployment]),
      ...networks.map((n) => n.Labels?.[RUNTIME_LABELS.deployment]),
      ...(volumes.Volumes ?? []).map((v) => v.Labels?.[RUNTIME_LABELS.deployment]),
    ];
    return [...new Set(ids.filter((id): id is string => Boolean(id)))];
  }

  async removeDeployment(deploymentId: string): Promise<void> {
    const filters = this.owned(deploymentId);
    const containers = await this.docker.listContainers({ all: true, filters });
    await Promise.all(
      containers.map((c) =>
        this.docker.getContainer(c.Id).remove({ force: true, v: true }).catch(ignoreMissing),
      ),
    );
    const networks = await this.docker.listNetworks({ filters });
    await Promise.all(networks.map((n) => this.docker.getNetwork(n.Id).remove().catch(ignoreMissing)));
    await this.firewall.release(deploymentId);
    const volumes = (await this.docker.listVolumes({ filters })).Volumes ?? [];
    await Promise.all(volumes.map((v) => this.docker.getVolume(v.Name).remove().catch(ignoreMissing)));
  }
}

/** The host interface of a deployment's bridge network. */
function bridgeOf(network: { Id: string; Options?: Record<string, string> }): string {
  return network.Options?.['com.docker.network.bridge.name'] ?? `br-${network.Id.slice(0, 12)}`;
}

function ignoreMissing(err: unknown) {
  if (!isNotFound(err)) throw err;
}

/** Labels of a claim volume: who holds the node's resources, since when, last said when. */
const CLAIM_LABELS = {
  holder: 'dev.nullops.claim.holder',
  since: 'dev.nullops.claim.since',
  renewed: 'dev.nullops.claim.renewed',
  pid: 'dev.nullops.claim.pid',
  host: 'dev.nullops.claim.host',
} as const;

function claimLabels(holder: ClaimHolder, renewedAt: number): Record<string, string> {
  return {
    [CLAIM_LABELS.holder]: holder.instance,
    [CLAIM_LABELS.since]: String(holder.since),
    [CLAIM_LABELS.renewed]: String(renewedAt),
    [CLAIM_LABELS.pid]: String(holder.pid),
    [CLAIM_LABELS.host]: holder.host,
  };
}

/**
 * Whether the process behind a claim may still be running: it renewed lately, and — when it is on
 * this host — its process exists and is not this one (a restarted container reuses its pid).
 */
function claimIsLive(labels: Record<string, string>, staleAfterMs: number): boolean {
  if (Date.now() - Number(labels[CLAIM_LABELS.renewed] ?? 0) > staleAfterMs) return false;
  if (labels[CLAIM_LABELS.host] !== hostname()) return true;
  const pid = Number(labels[CLAIM_LABELS.pid]);
  if (!pid || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The earlier claim first (ties: by holder), so racing processes agree on who keeps it. */
function claimOrder(a: Record<string, string>, b: Record<string, string>): number {
  const since = Number(a[CLAIM_LABELS.since]) - Number(b[CLAIM_LABELS.since]);
  return since || String(a[CLAIM_LABELS.holder]).localeCompare(String(b[CLAIM_LABELS.holder]));
}

function describeClaim(labels: Record<string, string>): string {
  return `agent process ${labels[CLAIM_LABELS.pid]} on ${labels[CLAIM_LABELS.host]}, running since ${new Date(Number(labels[CLAIM_LABELS.since])).toISOString()}`;
}

function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: () => void, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => {
        onTimeout();
        reject(new Error(`${what} did not finish within ${ms} ms`));
      }, ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Docker's non-TTY log frames: 8-byte header (stream, size) + payload. */
function demuxBuffer(buffer: Buffer): string {
  let out = '';
  let offset = 0;
  while (offset + 8 <= buffer.length) {
    const size = buffer.readUInt32BE(offset + 4);
    out += buffer.subarray(offset + 8, offset + 8 + size).toString('utf8');
    offset += 8 + size;
  }
  return out;
}

/** fetch() says only "fetch failed"; the cause says why (refused, reset, a malformed response). */

/** The engine's own words from a dockerode error, without the HTTP wrapper. */
function engineMessage(err: unknown): string {
  const e = err as { json?: { message?: string }; message?: string };
  return (e.json?.message ?? e.message ?? String(err)).replace(/^\(HTTP code \d+\) [a-z ]+- /, '').trim();
}

/** One line of the engine's event stream, or undefined when it is not JSON. */
function parseEvent(
  line: string,
): { Action?: string; time?: number; Actor?: { Attributes?: Record<string, string> } } | undefined {
  try {
    return line.trim() ? JSON.parse(line) : undefined;
  } catch {
    return undefined;
  }
}

function streamText(stream: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    stream.on('data', (c: Buffer) => (text += c.toString('utf8')));
    stream.on('end', () => resolve(text));
    stream.on('error', () => resolve(text));
  });
}
