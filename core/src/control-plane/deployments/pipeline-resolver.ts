import { ConflictError, InputError, type PipelineRun } from '@nullops/plugin-sdk';
import type { Database } from '../database/database.js';
import { ContainerRegistry, type PipelineVersion, type Project, Service } from '../models/catalog.js';
import type { PluginService } from '../plugins/plugin-service.js';
import { registryHost, runReference } from '../registry/registry-client.js';
import type { PipelineGraph } from '../schemas/pipeline.js';
import { sealedContexts } from '../security/sealed-contexts.js';
import type { SecretBox } from '../security/secret-box.js';
import type { SecretService } from '../services/secret-service.js';

/**
 * Turns a saved pipeline version into a run for one deployment: nodes of components that run a
 * project service (`projectService` in their definition) get their image
 * reference (registry + image + the chosen tag's digest) and CPU/memory limits from the project's budget,
 * `${secret:NAME}` references get their values, images of private registries get credentials, and
 * every node names the plugin release the version was saved with.
 * The result holds secrets: it is sent to the agent over TLS and never stored.
 */
export async function resolvePipelineRun(
  db: Database,
  deps: { box: SecretBox; secrets: SecretService; plugins: PluginService },
  input: {
    project: Project;
    version: PipelineVersion;
    tags: Record<string, string>;
    /** The digest of each service's tag, when resolved: the run starts exactly that image. */
    digests?: Record<string, string>;
  },
): Promise<PipelineRun> {
  const graph = input.version.graph as PipelineGraph;
  const services = await Service.query(db)
    .join('project_services as ps', 'ps.serviceId', 'services.id')
    .where('ps.projectId', input.project.id)
    .select('services.*');
  const registries = new Map(
    (
      await ContainerRegistry.query(db).whereIn(
        'id',
        services.map((s) => s.registryId),
      )
    ).map((r) => [r.id, r]),
  );
  // Nodes whose component declares that it runs a project service get image and budget filled in.
  const runsService = (type: string) =>
    Boolean(deps.plugins.providerOf(type)?.components.get(type)?.projectService);
  const serviceNodes = graph.nodes.filter((n) => runsService(n.type));
  const acceptsParam = (type: string, key: string) => {
    const schema = deps.plugins.providerOf(type)?.components.get(type)?.paramsJsonSchema as
      | { properties?: Record<string, unknown> }
      | undefined;
    return Boolean(schema?.properties?.[key]);
  };

  // Budget: explicit limits count first; the rest is shared evenly by nodes without limits.
  const explicit = (key: 'cpuMillicores' | 'memoryMb') =>
    serviceNodes.reduce(
      (sum, n) => sum + (typeof n.params[key] === 'number' ? (n.params[key] as number) : 0),
      0,
    );
  const unset = (key: 'cpuMillicores' | 'memoryMb') =>
    serviceNodes.filter((n) => typeof n.params[key] !== 'number').length;
  for (const [key, total] of [
    ['cpuMillicores', input.project.cpuMillicores],
    ['memoryMb', input.project.memoryMb],
  ] as const) {
    if (explicit(key) > total) {
      throw new ConflictError(
        `the pipeline's services ask for ${explicit(key)} ${key} but the project's budget is ${total}; an administrator must fix the pipeline or the budget`,
      );
    }
  }
  const share = (key: 'cpuMillicores' | 'memoryMb', total: number) =>
    unset(key) ? Math.floor((total - explicit(key)) / unset(key)) : 0;
  const cpuShare = share('cpuMillicores', input.project.cpuMillicores);
  const memoryShare = share('memoryMb', input.project.memoryMb);

  const usedRegistries = new Set<string>();
  const nodes = graph.nodes.map((node) => {
    const params: Record<string, unknown> = structuredClone(node.params);
    if (runsService(node.type)) {
      const service = services.find((s) => s.name === params.service);
      if (!service) {
        throw new ConflictError(
          `pipeline node "${node.id}" runs service "${String(params.service)}", which is not a service of this project`,
        );
      }
      const tag = input.tags[service.name];
      if (!tag) throw InputError.field(`tags.${service.name}`, 'is required');
      const registry = registries.get(service.registryId) as ContainerRegistry;
      params.image = runReference(registry.url, service.image, tag, input.digests?.[service.name]);
      // A release of the component from before security profiles would refuse the param.
      if (acceptsParam(node.type, 'securityProfile'))
        params.securityProfile ??= input.project.securityProfile;
      params.cpuMillicores ??= cpuShare;
      params.memoryMb ??= memoryShare;
      usedRegistries.add(registry.id);
    }
    return {
      id: node.id,
      type: node.type,
      version: node.version,
      ...(node.title ? { title: node.title } : {}),
      params,
    };
  });

  const secretValues = new Set<string>();
  try {
    for (const node of nodes)
      node.params = (await deps.secrets.substitute(node.params, db, secretValues)) as Record<string, unknown>;
  } catch (err) {
    throw new ConflictError(`the pipeline uses ${(err as Error).message}`);
  }

  const registryAuth = [...usedRegistries]
    .map((id) => registries.get(id) as ContainerRegistry)
    .filter((r) => r.username && r.passwordEnc)
    .map((r) => ({
      serveraddress: registryHost(r.url),
      username: r.username as string,
      password: deps.box.decrypt(r.passwordEnc as string, sealedContexts.registryPassword(r.id)),
    }));
  // The deployment's budget: the project's, plus what other components reserve for what they start.
  const budget = { cpuMillicores: input.project.cpuMillicores, memoryMb: input.project.memoryMb };
  for (const node of nodes) {
    if (runsService(node.type)) continue;
    const reserved = deps.plugins.providerOf(node.type)?.components.get(node.type)?.reserves?.(node.params);
    if (!reserved) continue;
    budget.cpuMillicores += reserved.cpuMillicores;
    budget.memoryMb += reserved.memoryMb;
  }
  const pinned = input.version.components ?? {};
  return {
    budget,
    pipelineVersion: input.version.version,
    nodes: nodes.map((n) => (pinned[n.type] ? { ...n, plugin: pinned[n.type]?.name } : n)),
    edges: graph.edges,
    registryAuth,
    secretValues: [...secretValues, ...registryAuth.map((a) => a.password)],
    ...(input.project.egressAllow?.length ? { egressAllow: input.project.egressAllow } : {}),
    plugins: await deps.plugins.refsFor(db, pinned),
  };
}
