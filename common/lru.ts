/**
 * A small bounded cache with per-entry expiry. A Map keeps insertion order, so re-inserting
 * on every hit makes the first key the least recently used one, which is evicted when full.
 */
export class LruCache<K, V> {
  private readonly entries = new Map<K, { value: V; expiresAt: number }>();
  private readonly loading = new Map<K, Promise<V>>();

  constructor(
    private readonly maxSize: number,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  get(key: K): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    this.entries.delete(key);
    if (entry.expiresAt <= this.now()) return undefined;
    this.entries.set(key, entry);
    return entry.value;
  }

  /** Stores `value` for the cache's ttl, or until `expiresAt` (epoch ms) if that comes first. */
  set(key: K, value: V, expiresAt?: number): void {
    const until = Math.min(this.now() + this.ttlMs, expiresAt ?? Number.POSITIVE_INFINITY);
    if (until <= this.now()) return;
    this.entries.delete(key);
    this.entries.set(key, { value, expiresAt: until });
    while (this.entries.size > this.maxSize) {
      const oldest = this.entries.keys().next();
      if (oldest.done) break;
      this.entries.delete(oldest.value);
    }
  }

  /**
   * The cached value, or `load`'s, which is then cached (until `expiresAt` when it gives one).
   * Concurrent misses on one key share a single load; a failed load is not cached.
   */
  getOrLoad(key: K, load: () => Promise<{ value: V; expiresAt?: number }>): Promise<V> {
    const cached = this.get(key);
    if (cached !== undefined) return Promise.resolve(cached);
    let pending = this.loading.get(key);
    if (!pending) {
      pending = load()
        .then(({ value, expiresAt }) => {
          this.set(key, value, expiresAt);
          return value;
        })
        .finally(() => this.loading.delete(key));
      this.loading.set(key, pending);
    }
    return pending;
  }

  /**
   * Values for several keys: cached ones at once, keys another caller is loading share that
   * load, and the rest are loaded together by one `loadMany` call (each found value cached).
   * A key `loadMany` leaves out is absent from the answer and not cached; a failed load rejects.
   */
  async getOrLoadMany(keys: readonly K[], loadMany: (keys: K[]) => Promise<Map<K, V>>): Promise<Map<K, V>> {
    const found = new Map<K, V>();
    const uncached: K[] = [];
    for (const key of new Set(keys)) {
      const value = this.get(key);
      if (value === undefined) uncached.push(key);
      else found.set(key, value);
    }
    if (uncached.length === 0) return found;
    const batch: K[] = [];
    let loaded: Promise<Map<K, V>> | undefined;
    const results = await Promise.allSettled(
      uncached.map((key) =>
        // getOrLoad runs the loader at once for every key nobody is loading yet, so all of
        // them are in `batch` before the one `loadMany` call goes out.
        this.getOrLoad(key, async () => {
          batch.push(key);
          loaded ??= Promise.resolve().then(() => loadMany(batch));
          const value = (await loaded).get(key);
          if (value === undefined) throw new NotLoaded();
          return { value };
        }),
      ),
    );
    for (const [i, result] of results.entries()) {
      if (result.status === 'fulfilled') found.set(uncached[i]!, result.value);
      else if (!(result.reason instanceof NotLoaded)) throw result.reason;
    }
    return found;
  }

  delete(key: K): void {
    this.entries.delete(key);
  }

  get size(): number {
    return this.entries.size;
  }
}

/** A key getOrLoadMany's loader did not return (shared with callers waiting on that key). */
class NotLoaded extends Error {}
