import type { PluginService } from '../plugins/plugin-service.js';

/** A pipeline node whose component keeps data it can back up and restore. */
export interface DataNode {
  nodeId: string;
  /** Its component type (a backup restores only into a node of the same type). */
  type: string;
  /** The service its data lives in, as people know it (the component says; else the node id). */
  service: string;
}

/**
 * The nodes of a pipeline whose components declare `backup` and `restore`: what users can back
 * up and restore. The host knows no data format: the components do.
 */
export function dataNodesIn(graph: unknown, plugins: PluginService): DataNode[] {
  const nodes = ((graph as { nodes?: unknown[] } | null)?.nodes ?? []) as {
    id: string;
    type: string;
    params?: Record<string, unknown>;
  }[];
  return nodes.flatMap((n) => {
    const component = plugins.providerOf(n.type)?.components.get(n.type);
    if (!component?.backup || !component.restore) return [];
    return [{ nodeId: n.id, type: n.type, service: component.dataService?.(n.params ?? {}) ?? n.id }];
  });
}
