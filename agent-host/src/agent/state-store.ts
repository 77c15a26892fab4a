import { randomUUID } from 'node:crypto';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import {
  DesiredDeploymentSchema,
  KeptLogsSchema,
  RunErrorSchema,
  RunPhaseSchema,
  ServiceSpecSchema,
} from '@nullops/plugin-sdk';
import type { Logger } from 'pino';
import { z } from 'zod';

/** One deployment as this agent knows it: what was asked, where its pipeline stands, what it started. */
const LocalDeploymentSchema = z.object({
  desired: DesiredDeploymentSchema,
  phase: RunPhaseSchema,
  specs: z.array(ServiceSpecSchema),
  error: RunErrorSchema.optional(),
  /** Loaded from disk, where env values are never kept: its specs are incomplete until a sync. */
  redacted: z.boolean().optional(),
  /** Why reconcile cannot restore it to its spec (data a later step built is gone); until redeployed. */
  degraded: z.string().optional(),
  /** A failed run's services' last lines (masked), until the deployment is removed. */
  keptLogs: KeptLogsSchema.optional(),
});
export type LocalDeployment = z.infer<typeof LocalDeploymentSchema>;

const OwnerSchema = z.object({ installationId: z.uuid(), nodeId: z.uuid() });

const AgentStateSchema = z.object({
  version: z.literal(3),
  /** Whose agent this is (the control plane says so on connect): every resource carries both. */
  owner: OwnerSchema.nullable(),
  /** When the control plane last synced. */
  syncedAt: z.string().nullable(),
  deployments: z.array(LocalDeploymentSchema),
});
export type AgentState = z.infer<typeof AgentStateSchema>;

const EMPTY: AgentState = { version: 3, owner: null, syncedAt: null, deployments: [] };

/**
 * A state written by an agent before owners existed (version 2): its deployments are kept, its
 * owner is learnt from the control plane's next connect.
 */
const StateFileSchema = z.union([
  AgentStateSchema,
  AgentStateSchema.omit({ version: true, owner: true })
    .extend({ version: z.literal(2) })
    .transform((old): AgentState => ({ ...old, version: 3, owner: null })),
]);

/**
 * The agent's own record of its deployments, in one JSON file. Writes are atomic (temp file,
 * fsync, rename), so a crash leaves either the old or the new state. A missing or corrupt file is
 * discarded: the control plane, the source of truth, sends the full state on the next connect.
 */
export class StateStore {
  private readonly file: string;
  /** Saves run one after another, so an older state never lands after a newer one. */
  private saving: Promise<void> = Promise.resolve();

  constructor(
    dataDir: string,
    private readonly logger: Logger,
  ) {
    this.file = join(dataDir, 'state.json');
  }

  async load(): Promise<AgentState> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch {
      this.logger.info({ file: this.file }, 'no agent state yet; waiting for the control plane');
      return structuredClone(EMPTY);
    }
    try {
      return StateFileSchema.parse(JSON.parse(text));
    } catch (err) {
      this.logger.warn(
        { file: this.file, err: (err as Error).message },
        'agent state is corrupt; discarding it',
      );
      await unlink(this.file).catch(() => {});
      return structuredClone(EMPTY);
    }
  }

  /**
   * Writes the state (owner-only). Nothing secret is kept: a deployment's pipeline run, secret
   * values and registry credentials are left out (the control plane sends them again on every
   * sync, and whenever a run must be resumed), and so are the services' env values (where resolved secrets
   * end up; the control plane sends every live deployment's specs on each sync).
   */
  save(state: AgentState): Promise<void> {
    const next = this.saving.then(() => this.write(state));
    this.saving = next.catch(() => {});
    return next;
  }

  private async write(state: AgentState): Promise<void> {
    state = {
      ...state,
      deployments: state.deployments.map(
        ({ desired: { run: _r, secretValues: _s, registryAuth: _a, ...desired }, ...rest }) => {
          const redacted = [...rest.specs, ...desired.services].some(
            (s) => s.env && Object.keys(s.env).length,
          );
          return {
            ...rest,
            specs: rest.specs.map(withoutEnv),
            desired: { ...desired, services: desired.services.map(withoutEnv) },
            ...(redacted || rest.redacted ? { redacted: true } : {}),
          };
        },
      ),
    };
    // A name of its own per write: a leftover of a crashed write is never another write's file.
    const temp = `${this.file}.${randomUUID()}.tmp`;
    const handle = await open(temp, 'wx', 0o600);
    try {
      await handle.writeFile(JSON.stringify(state));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, this.file).catch(async (err) => {
      await unlink(temp).catch(() => {});
      throw err;
    });
  }
}

function withoutEnv<S extends { env?: Record<string, string> | undefined }>(spec: S): S {
  const { env: _env, ...rest } = spec;
  return rest as S;
}
