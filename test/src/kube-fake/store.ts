import { EventEmitter } from 'node:events';
import type { KubeObject, ResourceType } from './resources.js';

export type WatchType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoreEvent {
  type: WatchType;
  resource: ResourceType;
  object: KubeObject;
  /** The object before this write (MODIFIED/DELETED). */
  previous?: KubeObject;
  rv: number;
}

/** How many writes a watch can start behind the newest one (older: 410 Expired). */
const WATCH_WINDOW = 20_000;

/**
 * The fake's etcd: every object by resource, namespace and name, one resourceVersion counter for
 * all of them (every write anywhere bumps it), and a window of recent writes that watches replay.
 * Objects go in and come out as copies, so nobody mutates the store by accident.
 */
export class Store {
  private revision = 100;
  private readonly objects = new Map<string, KubeObject>();
  private readonly history: StoreEvent[] = [];
  readonly changes = new EventEmitter<{ change: [StoreEvent] }>();

  constructor() {
    this.changes.setMaxListeners(0);
  }

  get resourceVersion(): number {
    return this.revision;
  }

  /** The oldest resourceVersion a watch may still start from. */
  get oldestWatchable(): number {
    return this.history[0] ? this.history[0].rv - 1 : this.revision;
  }

  private key(r: ResourceType, namespace: string | undefined, name: string) {
    return `${r.group}/${r.plural}/${r.namespaced ? (namespace ?? '') : ''}/${name}`;
  }

  get(r: ResourceType, namespace: string | undefined, name: string): KubeObject | undefined {
    const o = this.objects.get(this.key(r, namespace, name));
    return o && structuredClone(o);
  }

  /** Objects of a resource (in one namespace, or all), sorted like etcd keys. */
  list(r: ResourceType, namespace?: string): KubeObject[] {
    const prefix = `${r.group}/${r.plural}/${r.namespaced && namespace !== undefined ? `${namespace}/` : ''}`;
    return [...this.objects.entries()]
      .filter(([k]) => k.startsWith(prefix))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, o]) => structuredClone(o));
  }

  /** Writes an object (creating or replacing it) and returns the stored copy. */
  put(r: ResourceType, object: KubeObject): KubeObject {
    const key = this.key(r, object.metadata.namespace, object.metadata.name as string);
    const previous = this.objects.get(key);
    const stored = structuredClone(object);
    stored.metadata.resourceVersion = String(++this.revision);
    this.objects.set(key, stored);
    this.record({
      type: previous ? 'MODIFIED' : 'ADDED',
      resource: r,
      object: stored,
      previous,
      rv: this.revision,
    });
    return structuredClone(stored);
  }

  remove(r: ResourceType, object: KubeObject): KubeObject | undefined {
    const key = this.key(r, object.metadata.namespace, object.metadata.name as string);
    const previous = this.objects.get(key);
    if (!previous) return undefined;
    this.objects.delete(key);
    const gone = structuredClone(previous);
    gone.metadata.resourceVersion = String(++this.revision);
    this.record({ type: 'DELETED', resource: r, object: gone, previous, rv: this.revision });
    return structuredClone(gone);
  }

  private readonly outbox: StoreEvent[] = [];
  private delivering = false;

  /**
   * Keeps the write and tells listeners, in resourceVersion order even when a listener writes
   * while being told (its write is delivered after the current one, to everybody).
   */
  private record(event: StoreEvent) {
    this.history.push(event);
    if (this.history.length > WATCH_WINDOW) this.history.splice(0, this.history.length - WATCH_WINDOW);
    this.outbox.push(event);
    if (this.delivering) return;
    this.delivering = true;
    try {
      for (let next = this.outbox.shift(); next; next = this.outbox.shift())
        this.changes.emit('change', next);
    } finally {
      this.delivering = false;
    }
  }

  /** Writes after `rv` (exclusive), or undefined when `rv` is older than the window. */
  since(rv: number): StoreEvent[] | undefined {
    if (rv < this.oldestWatchable) return undefined;
    return this.history.filter((e) => e.rv > rv);
  }

  /** Forgets the watch history up to now, so watches from older versions get 410 (for tests). */
  compact(): void {
    this.history.splice(0);
  }
}
