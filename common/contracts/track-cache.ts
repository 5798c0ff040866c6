import { LruCache } from '../lru.js';
import type { CallOptions, ServiceClient } from '../rpc/client.js';
import type { Caller } from '../rpc/contract.js';
import type { CatalogContract, Track } from './catalog.js';
import { MAX_IDS } from './shared.js';

/** The catalog takes at most this many ids per `getTracks` call (its contract's bound). */
const CATALOG_BATCH = MAX_IDS;
/** Tracks a service keeps (a few hundred bytes each). */
const TRACK_CACHE_SIZE = 10_000;

/**
 * The tracks a page names (titles, artists, albums), for services that show plays: kept for
 * `ttlMs` (TRACK_NAMES_TTL_MS) in the process, so a page of recent plays or a report asks the
 * catalog only for the tracks it has not shown lately, in one call per MAX_IDS tracks (removed
 * ones included, marked unavailable), and most pages take no second hop. What it costs: a
 * track renamed or removed in the library keeps its old names, or shows as available, on those
 * pages for up to `ttlMs` (the catalog publishes no change events to invalidate it sooner).
 *
 * The catalog is asked as the page's reader (`caller`), so its own rule of who sees which
 * library decides: a track the reader may not see is not returned, and what the cache keeps is
 * kept per reader (a grant taken away shows within `ttlMs`). Without a caller the service
 * asks for itself and sees every library (the scrobbler naming a user's own plays).
 */
export class TrackCache {
  private readonly cache: LruCache<string, Track> | null;

  constructor(
    private readonly catalog: ServiceClient<CatalogContract>,
    ttlMs: number,
    private readonly options: CallOptions = {},
  ) {
    this.cache = ttlMs > 0 ? new LruCache<string, Track>(TRACK_CACHE_SIZE, ttlMs) : null;
  }

  /**
   * The tracks of `ids` the catalog knows (and `caller` may see), by id; rejects when the
   * catalog does not answer.
   */
  async get(ids: readonly string[], caller?: Caller): Promise<Map<string, Track>> {
    if (!this.cache) return this.load([...new Set(ids)], caller);
    // One reader's entries are not another's: keys are reader and track.
    const reader = caller ? `${caller.userId}/` : '*/';
    const found = await this.cache.getOrLoadMany(
      ids.map((id) => reader + id),
      async (missing) => {
        const loaded = await this.load(
          missing.map((key) => key.slice(reader.length)),
          caller,
        );
        return new Map([...loaded].map(([id, t]) => [reader + id, t]));
      },
    );
    return new Map([...found.values()].map((t) => [t.id, t]));
  }

  private async load(missing: string[], caller: Caller | undefined): Promise<Map<string, Track>> {
    const options = caller ? { ...this.options, caller } : this.options;
    const batches: Array<Promise<Track[]>> = [];
    for (let i = 0; i < missing.length; i += CATALOG_BATCH) {
      const ids = missing.slice(i, i + CATALOG_BATCH);
      batches.push(this.catalog.call('getTracks', { ids, withRemoved: true }, options));
    }
    return new Map((await Promise.all(batches)).flat().map((t) => [t.id, t]));
  }
}
