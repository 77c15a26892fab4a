import { watchLiveness } from '@nullops/kernel';
import {
  firstPartyRuntime,
  type Heartbeat,
  type Hello,
  NO_CAPABILITIES,
  PROTOCOL_VERSION,
  type RuntimeHealth,
  runtimeLabel,
} from '@nullops/plugin-sdk';
import {
  AgentNode,
  Environment,
  type NodeStatus,
  type RuntimeKind,
  SERVING_NODE_STATES,
} from '../models/fleet.js';
import { revealNodeToken } from '../services/node-tokens.js';
import {
  AgentRefusedError,
  dialAgent,
  UnprovenAgentError,
  UntrustedCertificateError,
} from './agent-dialer.js';
import { AgentLink } from './agent-link.js';
import type { AgentConnectionManager } from './connection-manager.js';
import { NODE_NOTIFY_TOPIC } from './node-losses.js';

/**
 * Delay before reconnect attempt `n` (1-based): capped exponential backoff with "equal jitter" —
 * half the ceiling fixed, half random — so retries spread out but never come back at once.
 */
export function backoffDelay(attempt: number, baseMs: number, capMs: number, random = Math.random): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(attempt - 1, 30));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/**
 * One node's link: dials its agent, checks who answers (pinned certificate, proof of the token,
 * runtime, protocol), keeps the node's status and heartbeats, and dials again with backoff when the
 * link is lost — until the node is disabled or the control plane stops.
 */
export class NodeLink {
  current: AgentLink | undefined;
  done: Promise<void> = Promise.resolve();
  private stopped = false;
  private handedOver = false;
  private wakeUp: (() => void) | undefined;
  private reconnectNow = false;
  private lastStatus: string | undefined;
  private cpuAverage: number | undefined;
  /** Whether the node's runtime answered at its last hello or heartbeat. */
  private runtimeHealthy = true;

  constructor(
    private readonly nodeId: string,
    private readonly manager: AgentConnectionManager,
  ) {}

  private get log() {
    return this.manager.logger.child({ node: this.nodeId });
  }

  /** Interrupts a wait; with `reconnect`, also drops an open connection so it is re-made. */
  wake(reconnect = false): void {
    this.lastStatus = undefined;
    if (reconnect && this.current) {
      this.reconnectNow = true;
      this.current.close(4001, 'node settings changed');
    }
    this.wakeUp?.();
  }

  stop(): void {
    this.stopped = true;
    this.current?.close(1001, 'control plane stopping');
    this.wakeUp?.();
  }

  /**
   * Another replica is to hold this node now: the link closes without a word about the node (it
   * is not offline, its deployments go on), and the lease is released for the new holder.
   */
  handOver(): void {
    if (this.stopped) return;
    this.handedOver = true;
    this.stopped = true;
    this.current?.close(1001, 'handed over to another control-plane replica');
    this.wakeUp?.();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wakeUp = done;
    });
  }

  private async setStatus(status: NodeStatus, message: string | null, extra: Partial<AgentNode> = {}) {
    if (this.stopped) return;
    const key = `${status}|${message}`;
    if (key === this.lastStatus && !Object.keys(extra).length) return;
    await AgentNode.query(this.manager.db)
      .patch({ status, statusMessage: message, ...extra, updatedAt: new Date() })
      .where('id', this.nodeId);
    this.lastStatus = key;
    this.log.info({ status, message }, 'node status');
  }

  async run(): Promise<void> {
    try {
      await this.loop();
    } finally {
      if (this.handedOver) await this.manager.leases.release(this.nodeId).catch(() => {});
    }
  }

  private async loop(): Promise<void> {
    const { db, box, config, replicas, leases } = this.manager;
    let attempt = 0;
    while (!this.stopped) {
      // Another replica's node now (replicas came or went): the new owner takes it.
      if (!replicas.owns(this.nodeId)) {
        this.handedOver = true;
        return;
      }
      // Still held by the replica that had it (it hands it over, or its lease runs out).
      if (!(await leases.acquire(this.nodeId))) {
        await this.sleep(config.NULLOPS_REPLICA_HEARTBEAT_MS);
        continue;
      }
      const node = await AgentNode.query(db).findById(this.nodeId);
      // Removed. (A disabled node stays connected: disabled means no new deployments there, while
      // those it has keep running, and deletes on it finish.)
      if (!node) return;
      if (!node.tokenEnc) {
        await this.markOffline('offline', 'no agent token: issue one and configure the agent with it');
        await this.sleep(60_000);
        continue;
      }
      if (node.status === 'untrusted' && node.pendingThumbprint) {
        // Wait for an admin's decision; approving (or any node change) wakes this loop.
        await this.sleep(60_000);
        continue;
      }
      // A few handshakes at a time: ten thousand at once (a restart, a storm) would starve the
      // links already up of the event loop, and their liveness would drop them in turn.
      const release = await this.manager.dialGate.enter();
      // Handed over or removed while it waited its turn: no dial.
      if (this.stopped) {
        release();
        continue;
      }
      try {
        const { ws, thumbprint, certificate } = await dialAgent({
          host: node.host,
          port: node.port,
          token: revealNodeToken(box, node) as string,
          pinned: node.thumbprint,
          owner: { installationId: await this.manager.installation.id(), nodeId: this.nodeId },
          timeoutMs: config.NULLOPS_AGENT_CONNECT_TIMEOUT_MS,
          maxPayload: 16 * 1024 * 1024,
        });
        let silentMs: number | undefined;
        watchLiveness(ws, {
          intervalMs: config.NULLOPS_AGENT_LIVENESS_TIMEOUT_MS / 3,
          timeoutMs: config.NULLOPS_AGENT_LIVENESS_TIMEOUT_MS,
          onSilent: (ms) => {
            silentMs = ms;
          },
        });
        const link = new AgentLink(ws, this.log);
        const hello = await link.next('hello', config.NULLOPS_AGENT_CONNECT_TIMEOUT_MS);
        if (hello.maxMessageBytes) link.maxMessageBytes = hello.maxMessageBytes;
        const environment = await Environment.query(db).findById(node.environmentId);
        const capabilities =
          hello.capabilities ?? firstPartyRuntime(hello.runtime)?.capabilities ?? NO_CAPABILITIES;
        if (environment && hello.runtime !== environment.runtime) {
          link.close(4004, 'wrong runtime');
          const wanted = firstPartyRuntime(environment.runtime);
          await this.markOffline(
            'incompatible',
            `this agent drives ${runtimeLabel(hello.runtime)}, but environment "${environment.name}" is a ${runtimeLabel(environment.runtime)} environment: run ${wanted ? `the ${wanted.agentCommand} agent` : `an agent of the ${environment.runtime} runtime`} on this node, or add it to a ${hello.runtime} environment`,
            { agentVersion: hello.agentVersion, runtime: hello.runtime },
          );
        } else if (environment?.ingressClass && !capabilities.ingress) {
          link.close(4004, 'no ingress');
          await this.markOffline(
            'incompatible',
            `environment "${environment.name}" routes through ingress class "${environment.ingressClass}", but this agent's ${runtimeLabel(hello.runtime)} runtime has no ingress of its own: clear the environment's ingress class (the edge then serves its URLs)`,
            { agentVersion: hello.agentVersion, runtime: hello.runtime },
          );
        } else if (hello.protocolVersion !== PROTOCOL_VERSION) {
          link.close(4002, 'incompatible protocol');
          await this.markOffline(
            'incompatible',
            `agent speaks protocol ${hello.protocolVersion}, this control plane ${PROTOCOL_VERSION}: upgrade them together`,
            { agentVersion: hello.agentVersion },
          );
        } else {
          attempt = 0;
          await this.online(link, node, {
            thumbprint,
            certificate,
            agentVersion: hello.agentVersion,
            runtime: hello.runtime,
            capacity: hello.capacity,
            runtimeHealth: hello.runtimeHealth ?? { healthy: true },
          });
          release();
          const closed = await link.closed;
          this.current = undefined;
          if (this.reconnectNow) {
            this.reconnectNow = false;
            continue;
          }
          // Taken over by another replica (this one was counted dead a while): the node is not
          // offline, it is linked from there.
          if (this.stopped || !(await leases.holds(this.nodeId))) continue;
          await this.markOffline(
            'offline',
            silentMs !== undefined
              ? `the agent went silent (no answer for ${Math.round(silentMs / 1000)} s): a network partition, or its process is stopped`
              : `connection lost (${closed.code}${closed.reason ? `: ${closed.reason}` : ''})`,
          );
        }
      } catch (err) {
        this.current = undefined;
        if (err instanceof UntrustedCertificateError) {
          await this.markOffline('untrusted', err.message, { pendingThumbprint: err.thumbprint });
          continue;
        }
        if (err instanceof UnprovenAgentError) {
          // Nothing is pinned: the real agent may still come up there; keep trying, with backoff.
          this.log.warn({ thumbprint: err.thumbprint }, 'a peer without the node token answered');
          await this.markOffline('untrusted', err.message);
        } else
          await this.markOffline(
            'offline',
            err instanceof AgentRefusedError ? err.message : (err as Error).message,
          );
      } finally {
        release();
      }
      if (this.stopped) return;
      attempt++;
      await this.sleep(
        backoffDelay(attempt, config.NULLOPS_AGENT_RECONNECT_BASE_MS, config.NULLOPS_AGENT_RECONNECT_MAX_MS),
      );
    }
  }

  private async online(
    link: AgentLink,
    node: AgentNode,
    agent: {
      thumbprint: string;
      certificate: string;
      agentVersion: string;
      runtime: RuntimeKind;
      capacity: Hello['capacity'];
      runtimeHealth: RuntimeHealth;
    },
  ) {
    const { events } = this.manager;
    this.current = link;
    link.on('heartbeat', (beat: Heartbeat) => this.recordHeartbeat(beat));
    for (const name of [
      'pipeline.step',
      'deployment.finished',
      'log.line',
      'log.end',
      'services.health',
      'deployment.repaired',
      'deployment.degraded',
    ] as const) {
      link.on(name, (data: unknown) => {
        (events.emit as (event: string, ...args: unknown[]) => boolean)(name, this.nodeId, data);
      });
    }
    // First contact: the agent proved it holds the token (agent-dialer), so its certificate is pinned
    // before anything else happens. The node is placeable only with its capacity known (it came
    // with the hello) and its runtime answering; otherwise it is degraded, and says why.
    const pin = node.thumbprint ? {} : { thumbprint: agent.thumbprint };
    this.runtimeHealthy = agent.runtimeHealth.healthy;
    await this.setStatus(...this.runtimeStatus(agent.runtimeHealth), {
      ...pin,
      certificate: agent.certificate || null,
      runtime: agent.runtime,
      agentVersion: agent.agentVersion,
      pendingThumbprint: null,
      lastHeartbeatAt: new Date(),
      maxMessageBytes: link.maxMessageBytes,
      ...(agent.capacity ? { capacity: agent.capacity } : {}),
    });
    if (!(SERVING_NODE_STATES as readonly string[]).includes(node.status) && this.manager.notifiesNodes()) {
      await this.manager.outbox.add(this.manager.db, NODE_NOTIFY_TOPIC, `node:${this.nodeId}`, {
        nodeId: this.nodeId,
        event: 'node.online',
        at: new Date().toISOString(),
      });
      this.manager.outbox.wake();
    }
    // What the node must run is sent by whoever listens (NodeSync); this loop only keeps the link.
    events.emit('node.connected', this.nodeId, link);
  }

  /** `online`, or `degraded` with the reason when the node's runtime does not answer. */
  private runtimeStatus(health: RuntimeHealth): [NodeStatus, string | null] {
    return health.healthy
      ? ['online', null]
      : ['degraded', `${health.reason ?? 'its runtime does not answer'}; no new deployments are placed here`];
  }

  private recordHeartbeat(beat: Heartbeat) {
    if (this.stopped) return;
    // The runtime went away or came back: the node turns degraded or online again.
    const health = beat.runtimeHealth ?? { healthy: true };
    if (health.healthy !== this.runtimeHealthy) {
      this.runtimeHealthy = health.healthy;
      void this.setStatus(...this.runtimeStatus(health)).catch((err) =>
        this.log.warn({ err: (err as Error).message }, 'could not record the node’s runtime health'),
      );
    }
    // Placement uses a moving average of host CPU: one busy instant must not refuse a deployment
    // that fits, while sustained load still counts.
    this.cpuAverage =
      this.cpuAverage === undefined
        ? beat.host.cpuPercent
        : 0.8 * this.cpuAverage + 0.2 * beat.host.cpuPercent;
    this.manager.heartbeats.record(this.nodeId, {
      at: new Date(),
      capacity: beat.capacity,
      usage: {
        host: { ...beat.host, cpuPercentAverage: Math.round(this.cpuAverage * 10) / 10 },
        services: beat.services,
        at: beat.at,
      },
    });
  }

  /**
   * The node is not usable (lost, disabled, untrusted, incompatible): its status and its running
   * deployments going offline are one change (NodeLosses, which writes losses that come together
   * in one transaction).
   */
  private async markOffline(status: NodeStatus, message: string, extra: Partial<AgentNode> = {}) {
    if (this.stopped) return;
    this.manager.heartbeats.forget(this.nodeId);
    const key = `${status}|${message}`;
    // A retry that failed as the last one did changes nothing on the row.
    const unchanged = key === this.lastStatus && !Object.keys(extra).length;
    await this.manager.losses.record({
      nodeId: this.nodeId,
      status,
      message,
      extra,
      unchanged,
      stillWanted: () => !this.stopped,
    });
    if (this.stopped || unchanged) return;
    this.lastStatus = key;
    this.log.info({ status, message }, 'node status');
  }
}
