import type { PluginHost } from '@nullops/kernel/plugins';
import type { EventName, RequestSchemas, Runtime } from '@nullops/plugin-sdk';
import type { z } from 'zod';
import type { DeploymentRunner } from './deployment-runner.js';

type Target = z.infer<(typeof RequestSchemas)['data.backup']['params']>;

/** How long one backup or restore may take. */
const DATA_TIMEOUT_MS = 10 * 60_000;

/**
 * Backups and restores of a running deployment's data: the node's component does them (its
 * `backup` and `restore` hooks, from the plugin release the pipeline was saved with); this host
 * only finds the component, checks the deployment runs here, and gives it the runtime. It knows
 * no database, no format.
 */
export class DataOperations {
  constructor(
    private readonly deps: {
      runtime: Runtime;
      plugins: PluginHost;
      runner: DeploymentRunner;
      emit: (event: EventName, data: unknown) => void;
    },
  ) {}

  async backup(target: Target): Promise<{ archive: string; bytes: number }> {
    const { component, params, ctx } = await this.prepare(target);
    if (!component.backup) throw new Error(`${target.node.type} keeps no data it can back up`);
    const archive = Buffer.from(await component.backup(ctx, params));
    return { archive: archive.toString('base64'), bytes: archive.length };
  }

  async restore(target: Target & { archive: string }): Promise<{ notes: string[] }> {
    const { component, params, ctx } = await this.prepare(target);
    if (!component.restore) throw new Error(`${target.node.type} cannot restore data`);
    const report = await component.restore(ctx, params, Buffer.from(target.archive, 'base64'));
    return { notes: report.notes.map((n) => n.slice(0, 1000)).slice(0, 100) };
  }

  private async prepare(target: Target) {
    const { runner, plugins, runtime, emit } = this.deps;
    const record = runner.record(target.deploymentId);
    if (record?.phase !== 'running' || runner.isRunning(target.deploymentId))
      throw new Error('the deployment is not running on this node');
    const { components, unavailable } = await plugins.componentsFor({
      pipelineVersion: 0,
      nodes: [target.node],
      edges: [],
      registryAuth: [],
      plugins: target.plugins,
    });
    const component = components.get(target.node.type);
    if (!component)
      throw new Error(unavailable.get(target.node.type) ?? `no component ${target.node.type} on this node`);
    const parsed = component.params.safeParse(target.node.params);
    if (!parsed.success) throw new Error(`the node's params are not valid for ${target.node.type}`);
    const masker = runner.masker(target.deploymentId);
    const ctx = {
      deployment: { id: target.deploymentId, name: target.deploymentName },
      nodeId: target.node.id,
      runtime,
      signal: AbortSignal.timeout(DATA_TIMEOUT_MS),
      // Its lines join the deployment's history like a pipeline step's, masked.
      log: (line: string) =>
        emit('pipeline.step', {
          deploymentId: target.deploymentId,
          nodeId: target.node.id,
          status: 'log',
          message: (masker?.mask(line) ?? line).slice(0, 4000),
          at: new Date().toISOString(),
        }),
    };
    return { component, params: parsed.data, ctx };
  }
}
