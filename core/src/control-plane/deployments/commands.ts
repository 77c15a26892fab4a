import { randomUUID } from 'node:crypto';
import { inject, injectable } from '@nullops/kernel';
import {
  ConflictError,
  type DesiredDeployment,
  type PipelineRun,
  UnprocessableError,
} from '@nullops/plugin-sdk';
import type { Database } from '../database/database.js';
import { PipelineVersion, Project } from '../models/catalog.js';
import { Deployment, Environment } from '../models/fleet.js';
import { User } from '../models/identity.js';
import { Outbox } from '../outbox/outbox.js';
import { PluginService } from '../plugins/plugin-service.js';
import { Refs } from '../refs.js';
import type { SecretBox } from '../security/secret-box.js';
import { SecretService } from '../services/secret-service.js';
import { DeploymentHistory } from './history.js';
import { RESERVING_STATES, statesFor } from './lifecycle.js';
import { desiredBytes, largestFields } from './message-size.js';
import { resolvePipelineRun } from './pipeline-resolver.js';
import { placeDeployment } from './placement.js';
import { TagService } from './tag-service.js';
import { type Actor, Transitions } from './transitions.js';

/**
 * What users do to deployments: create, delete (cancel), retry, clone, extend. Create and clone
 * ask the registry for tags first and open their own transaction after: no network call happens
 * inside a database transaction. The others run in the caller's transaction.
 */
@injectable()
export class DeploymentCommands {
  constructor(
    @inject(Refs.database) private readonly db: Database,
    @inject(Refs.secretBox) private readonly box: SecretBox,
    @inject(TagService) private readonly tags: TagService,
    @inject(Outbox) private readonly outbox: Outbox,
    @inject(SecretService) private readonly secrets: SecretService,
    @inject(PluginService) private readonly plugins: PluginService,
    @inject(Transitions) private readonly transitions: Transitions,
    @inject(DeploymentHistory) private readonly history: DeploymentHistory,
  ) {}

  private ttlOf(project: Project, environment: Environment): number {
    return project.ttlSeconds ?? environment.defaultTtlSeconds;
  }

  private async latestVersion(db: Database, projectId: string): Promise<PipelineVersion> {
    const version = await PipelineVersion.query(db)
      .where('projectId', projectId)
      .orderBy('version', 'desc')
      .first();
    if (!version)
      throw new ConflictError(
        'this project has no pipeline yet; an administrator saves one in the pipeline editor',
      );
    return version;
  }

  /**
   * What a run of the latest pipeline needs, and the node that has room for it. The run is built
   * now to fail fast (an unknown service, a missing secret…) and for its budget — everything it
   * can start, components' reservations included — which placement reserves.
   */
  private async plan(
    db: Database,
    project: Project,
    environment: Environment,
    images: { tags: Record<string, string>; digests: Record<string, string> },
  ) {
    const version = await this.latestVersion(db, project.id);
    const run = await resolvePipelineRun(
      db,
      { box: this.box, secrets: this.secrets, plugins: this.plugins },
      { project, version, ...images },
    );
    const reserved = run.budget ?? { cpuMillicores: project.cpuMillicores, memoryMb: project.memoryMb };
    const node = await placeDeployment(db, environment, reserved);
    refuseTooLarge(run, node.maxMessageBytes);
    const now = new Date();
    return {
      version,
      node,
      reserved,
      now,
      expiresAt: new Date(now.getTime() + this.ttlOf(project, environment) * 1000),
    };
  }

  /**
   * Creates a deployment: the tags are checked against the registry, then — in one transaction —
   * it is placed on a node and recorded, its pipeline handed to the node once that commits. With
   * an idempotency key, the same key from the same user is the same request retried: the answer is
   * what it created.
   */
  async create(input: {
    project: Project;
    environment: Environment;
    name: string;
    tags: Record<string, string>;
    idempotencyKey?: string;
    actor: Actor;
    clonedFrom?: Deployment;
  }): Promise<{ deployment: Deployment; created: boolean }> {
    const { project, environment, actor } = input;
    const earlier = (db: Database) =>
      input.idempotencyKey && actor.userId
        ? Deployment.query(db).findOne({ createdBy: actor.userId, idempotencyKey: input.idempotencyKey })
        : undefined;
    // A retried request is answered without asking the registry again.
    const retried = await earlier(this.db);
    if (retried) return { deployment: sameRequest(retried, input), created: false };
    const tags = await this.tags.choose(project, input.tags, this.db);
    // What the user picked is what runs: each tag as it is now, whatever is pushed to it later.
    const digests = await this.tags.digests(project, tags, this.db);
    const result = await this.inserting(input.name, environment, () =>
      this.db.transaction(async (db) => {
        if (input.idempotencyKey && actor.userId) {
          // Two copies of one request racing: the second waits here and answers with the first's.
          await db.raw('select pg_advisory_xact_lock(hashtext(?))', [
            `idempotency:${actor.userId}:${input.idempotencyKey}`,
          ]);
          const first = await earlier(db);
          if (first) return { deployment: sameRequest(first, input), created: false };
        }
        const plan = await this.plan(db, project, environment, { tags, digests });
        await this.withinQuotas(db, project, actor, plan.reserved);
        const deployment = await this.transitions.create(
          db,
          {
            id: randomUUID(),
            name: input.name,
            projectId: project.id,
            environmentId: environment.id,
            nodeId: plan.node.id,
            nodeName: plan.node.name,
            pipelineVersionId: plan.version.id,
            tags,
            imageDigests: digests,
            services: [],
            cpuMillicores: plan.reserved.cpuMillicores,
            memoryMb: plan.reserved.memoryMb,
            idempotencyKey: input.idempotencyKey ?? null,
            createdBy: actor.userId,
            lastActivityAt: plan.now,
            expiresAt: plan.expiresAt,
          },
          {
            message: `pipeline v${plan.version.version} on node ${plan.node.name}: ${describeImages(tags, digests)}`,
            actor,
            details: { tags, digests },
          },
        );
        if (input.clonedFrom)
          await this.history.record(db, deployment.id, {
            kind: 'cloned',
            message: `cloned from ${input.clonedFrom.name}`,
            actorId: actor.userId,
            actorName: actor.username,
            details: { from: input.clonedFrom.id },
          });
        return { deployment, created: true };
      }),
    );
    this.outbox.wake();
    return result;
  }

  /**
   * A new deployment fits its project's quota and its creator's (live deployments, and the CPU and
   * memory they reserve together), or is refused naming the quota. Counted under a lock per
   * project and user, so two creates racing cannot both take the last place.
   */
  private async withinQuotas(
    db: Database,
    project: Project,
    actor: Actor,
    reserved: { cpuMillicores: number; memoryMb: number },
  ) {
    const owners: { label: string; quota: QuotaRow; column: 'projectId' | 'createdBy'; id: string }[] = [
      { label: `project ${project.name}`, quota: project, column: 'projectId', id: project.id },
    ];
    if (actor.userId) {
      const user = await User.query(db).findById(actor.userId);
      if (user)
        owners.push({
          label: `your account (${user.username})`,
          quota: user,
          column: 'createdBy',
          id: user.id,
        });
    }
    for (const owner of owners) {
      const { quotaDeployments, quotaCpuMillicores, quotaMemoryMb } = owner.quota;
      if (quotaDeployments === null && quotaCpuMillicores === null && quotaMemoryMb === null) continue;
      await db.raw('select pg_advisory_xact_lock(hashtext(?))', [`quota:${owner.column}:${owner.id}`]);
      const used = (await Deployment.query(db)
        .where(owner.column, owner.id)
        .whereIn('state', [...RESERVING_STATES])
        .select(
          db.raw('count(*)::int as deployments'),
          db.raw('coalesce(sum(cpu_millicores), 0)::int as cpu'),
          db.raw('coalesce(sum(memory_mb), 0)::int as memory'),
        )
        .first()) as unknown as { deployments: number; cpu: number; memory: number };
      const over =
        quotaDeployments !== null && used.deployments + 1 > quotaDeployments
          ? `at most ${quotaDeployments} live deployments (it has ${used.deployments})`
          : quotaCpuMillicores !== null && used.cpu + reserved.cpuMillicores > quotaCpuMillicores
            ? `at most ${quotaCpuMillicores}m CPU reserved by its deployments (${used.cpu}m now, this one needs ${reserved.cpuMillicores}m)`
            : quotaMemoryMb !== null && used.memory + reserved.memoryMb > quotaMemoryMb
              ? `at most ${quotaMemoryMb} MiB reserved by its deployments (${used.memory} MiB now, this one needs ${reserved.memoryMb} MiB)`
              : undefined;
      if (over)
        throw new ConflictError(
          `the quota of ${owner.label} allows ${over}: delete a deployment, or ask an administrator to raise the quota`,
        );
    }
  }

  /** A name already in use in the environment is said as such (names are unique per environment). */
  private async inserting<T>(name: string, environment: Environment, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      if ((err as { constraint?: string }).constraint !== 'deployments_name_unique') throw err;
      throw new ConflictError(
        `name: "${name}" is already taken in environment ${environment.name} (deployment names are unique per environment; deleting one frees its name)`,
        { issues: [{ path: 'body.name', message: `is already taken in environment ${environment.name}` }] },
      );
    }
  }

  /** Delete, cancel (while deploying: roll back) or expire: idempotent. */
  async delete(
    db: Database,
    d: Deployment,
    actor: Actor,
    reason: 'deleted' | 'cancelled' | 'expired' = 'deleted',
  ): Promise<Deployment> {
    await this.transitions.apply(db, d, reason, { stateMessage: reason }, { actor });
    return Deployment.query(db).findById(d.id).throwIfNotFound();
  }

  /** Runs a failed deployment again with the latest pipeline version and the same images (tags and digests). */
  async retry(db: Database, d: Deployment, actor: Actor): Promise<Deployment> {
    if (d.state !== 'failed')
      throw new ConflictError(`only a failed deployment can be retried; this one is ${d.state}`);
    const project = await Project.query(db).findById(d.projectId).throwIfNotFound();
    const environment = await Environment.query(db).findById(d.environmentId).throwIfNotFound();
    const plan = await this.plan(db, project, environment, { tags: d.tags, digests: d.imageDigests });
    await this.transitions.apply(
      db,
      d,
      'retried',
      {
        nodeId: plan.node.id,
        nodeName: plan.node.name,
        pipelineVersionId: plan.version.id,
        cpuMillicores: plan.reserved.cpuMillicores,
        memoryMb: plan.reserved.memoryMb,
        error: null,
        stateMessage: null,
        lastActivityAt: plan.now,
        expiresAt: plan.expiresAt,
      },
      { actor, message: `pipeline v${plan.version.version} on node ${plan.node.name}` },
    );
    return Deployment.query(db).findById(d.id).throwIfNotFound();
  }

  /**
   * Rebuilds a live deployment on its node — the way out of every stuck state (degraded, a
   * service gone, a node that lost it): its node removes everything it has and runs its pipeline
   * version again with the same tags, so its name and URLs stay. A failed one is retried instead.
   */
  async redeploy(d: Deployment, actor: Actor): Promise<Deployment> {
    const refuse = (state: string) => {
      const allowed = statesFor('redeployed');
      if (!allowed.includes(state as Deployment['state']))
        throw new ConflictError(
          state === 'failed'
            ? 'a failed deployment is retried, not redeployed (POST …/retry)'
            : `a ${state} deployment cannot be redeployed (only ${allowed.join(', ')})`,
        );
    };
    refuse(d.state);
    // Its tags are resolved again (the user picks tags, not digests): a tag pushed since runs now.
    const project = await Project.query(this.db).findById(d.projectId).throwIfNotFound();
    const digests = await this.tags.digests(project, d.tags, this.db);
    return this.db.transaction(async (db) => {
      const fresh = await Deployment.query(db).findById(d.id).forUpdate().throwIfNotFound();
      refuse(fresh.state);
      const version = fresh.pipelineVersionId
        ? await PipelineVersion.query(db).findById(fresh.pipelineVersionId)
        : undefined;
      const moved = await this.transitions.apply(
        db,
        fresh,
        'redeployed',
        {
          error: null,
          stateMessage: null,
          services: [],
          actual: null,
          serviceHealth: null,
          imageDigests: digests,
          lastActivityAt: new Date(),
        },
        {
          actor,
          message: `pipeline v${version?.version ?? '?'} again on node ${fresh.nodeName ?? '?'}, same tags: ${describeImages(fresh.tags, digests)}`,
          details: { tags: fresh.tags, digests },
        },
      );
      if (!moved) throw new ConflictError('the deployment changed meanwhile; reload and try again');
      return Deployment.query(db).findById(d.id).throwIfNotFound();
    });
  }

  /** A new deployment like `d` (its tags, optionally changed), with a new name and the latest pipeline. */
  async clone(
    d: Deployment,
    input: { name: string; tags?: Record<string, string> },
    actor: Actor,
  ): Promise<Deployment> {
    const project = await Project.query(this.db).findById(d.projectId).throwIfNotFound();
    const environment = await Environment.query(this.db).findById(d.environmentId).throwIfNotFound();
    const { deployment } = await this.create({
      project,
      environment,
      name: input.name,
      tags: { ...d.tags, ...input.tags },
      actor,
      clonedFrom: d,
    });
    return deployment;
  }

  /** Resets the auto-cleanup timer. */
  /** Kept `hours` from now, or its TTL from now. */
  async extend(db: Database, d: Deployment, actor: Actor, hours?: number): Promise<Deployment> {
    if (d.state === 'deleting' || d.state === 'deleted')
      throw new ConflictError(`a ${d.state} deployment cannot be extended`);
    const project = await Project.query(db).findById(d.projectId).throwIfNotFound();
    const environment = await Environment.query(db).findById(d.environmentId).throwIfNotFound();
    const now = new Date();
    const seconds = hours ? hours * 3600 : this.ttlOf(project, environment);
    const expiresAt = new Date(now.getTime() + seconds * 1000);
    const updated = await Deployment.query(db).patchAndFetchById(d.id, {
      lastActivityAt: now,
      expiresAt,
      updatedAt: now,
    });
    await this.history.record(db, d.id, {
      kind: 'extended',
      message: `by ${hours ? `${hours} h` : `its TTL (${Math.round(seconds / 360) / 10} h)`}: expires ${expiresAt.toISOString()}`,
      actorId: actor.userId,
      actorName: actor.username,
    });
    return updated;
  }
}

/**
 * An Idempotency-Key names one request: sent again with another body it is a client bug (or two
 * clients sharing a key), answered 422 rather than with a deployment the caller did not ask for.
 */
function sameRequest(
  earlier: Deployment,
  input: { project: Project; environment: Environment; name: string; tags: Record<string, string> },
): Deployment {
  const tags = earlier.tags as Record<string, string>;
  const differs = [
    // A key sent again to another project is another request: never an answer about a deployment
    // the caller may not even see.
    earlier.projectId !== input.project.id && 'projectId',
    earlier.environmentId !== input.environment.id && 'environmentId',
    earlier.name !== input.name && 'name',
    Object.entries(input.tags).some(([service, tag]) => tags[service] !== tag) && 'tags',
  ].filter((field): field is string => Boolean(field));
  if (differs.length)
    throw new UnprocessableError(
      `this Idempotency-Key was used for another request (it differs in ${differs.join(', ')}): use a new key for a new request`,
      {
        issues: differs.map((f) => ({
          path: f === 'projectId' ? 'params.projectId' : `body.${f}`,
          message: 'differs from the first request with this key',
        })),
      },
    );
  return earlier;
}

/**
 * A run that would not fit one message to its node's agent is refused before anything is created,
 * naming its largest values (by where they are; never what they hold).
 */
function refuseTooLarge(run: PipelineRun, maxBytes: number | null) {
  const limit = maxBytes ?? DEFAULT_AGENT_MESSAGE_BYTES;
  const probe: DesiredDeployment = {
    id: '00000000-0000-4000-8000-000000000000',
    name: 'probe',
    state: 'deploying',
    services: [],
    run,
  };
  const bytes = desiredBytes(probe);
  if (bytes <= limit) return;
  const largest = largestFields(probe);
  throw new UnprocessableError(
    `this deployment's pipeline run would be ${Math.ceil(bytes / 1024)} KiB, more than its node accepts in one message (${Math.ceil(limit / 1024)} KiB): its largest values are ${largest.join(', ')}. Make them smaller (a secret, an env value), or raise the agent's NULLOPS_AGENT_MAX_FRAME_BYTES.`,
    {
      issues: largest.map((field) => ({
        path: field.replace(/ \(.*$/, ''),
        message: 'is among the largest values',
      })),
    },
  );
}

/** What an agent accepts in one message unless its hello said otherwise. */
const DEFAULT_AGENT_MESSAGE_BYTES = 1024 * 1024;

type QuotaRow = Pick<Project, 'quotaDeployments' | 'quotaCpuMillicores' | 'quotaMemoryMb'>;

/** `web v1 (sha256:0123456789ab), api main`: each service's tag, with its digest when resolved. */
export function describeImages(tags: Record<string, string>, digests: Record<string, string>): string {
  return Object.entries(tags)
    .map(
      ([service, tag]) =>
        `${service} ${tag}${digests[service] ? ` (${digests[service]?.slice(0, 19)})` : ''}`,
    )
    .join(', ');
}
