/**
 * Rows looked up by id, kept for a moment: deployment views name their project, environment,
 * pipeline version, creator and the project's services, which change rarely while views are read
 * hundreds of times a second (benchmark P4). Entries live `ttlMs`, and every change made through
 * the API clears them all, so a rename shows at once on the next read.
 */
export class LookupCache<T> {
  private entries = new Map<string, { at: number; value: T | undefined }>();

  constructor(
    private readonly ttlMs: number,
    private readonly max = 10_000,
  ) {}

  /** The rows of `ids`, loading those not cached (or expired) with one call of `load`. */
  async many(
    ids: Iterable<string>,
    load: (missing: string[]) => Promise<[string, T][]>,
  ): Promise<Map<string, T>> {
    const now = Date.now();
    const found = new Map<string, T>();
    const missing: string[] = [];
    for (const id of new Set(ids)) {
      const hit = this.entries.get(id);
      if (hit && now - hit.at < this.ttlMs) {
        if (hit.value !== undefined) found.set(id, hit.value);
      } else missing.push(id);
    }
    if (missing.length) {
      const loaded = new Map(await load(missing));
      if (this.entries.size + missing.length > this.max) this.entries.clear();
      for (const id of missing) {
        const value = loaded.get(id);
        this.entries.set(id, { at: now, value });
        if (value !== undefined) found.set(id, value);
      }
    }
    return found;
  }

  clear(): void {
    this.entries.clear();
  }
}
