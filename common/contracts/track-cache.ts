import { LruCache } from '../lru.js';
import type { CallOptions, ServiceClient } from '../rpc/client.js';
import type { Caller } from '../rpc/contract.js';
import { SharedAnswers } from '../shared-answer.js';
import {
  type CatalogContract,
  type LibraryAccessList,
  type LibraryTrack,
  librariesSeenBy,
  type ReaderLibraries,
  readerSees,
  type Track,
} from './catalog.js';
import { MAX_IDS } from './shared.js';

/** The catalog takes at most this many ids per `libraryTracks` call (its contract's bound). */
const CATALOG_BATCH = MAX_IDS;
/** Tracks a service keeps (a few hundred bytes each). */
const TRACKS_KEPT = 20_000;

/**
 * What a reader sees, being looked up (`TrackCache.scopeOf`); null for a service's own
 * reading, which sees every library.
 */
export type ReaderScope = Promise<ReaderLibraries> | null;

/**
 * The tracks a page names (titles, artists, albums), for services that show plays: kept for
 * `ttlMs` (TRACK_NAMES_TTL_MS) in the process, so a page of recent plays or a report asks the
 * catalog only for the tracks it has not shown lately, in one call per MAX_IDS tracks (removed
 * ones included, marked unavailable), and most pages take no second hop. What it costs: a
 * track renamed or removed in the library keeps its old names, or shows as available, on those
 * pages for up to `ttlMs` (the catalog publishes no change events to invalidate it sooner).
 *
 * Tracks are kept once for every reader, each with its library, and so is who sees which
 * library (the catalog's `libraryAccess`, renewed in the background as it ages): what a
 * reader sees is worked out by the catalog's own rule (`librariesSeenBy`, `readerSees`), and a
 * grant taken away shows within `ttlMs`. So a page of tracks shown lately to anyone costs no
 * hop at all, whoever reads it.
 */
export class TrackCache {
  private readonly tracks: LruCache<string, LibraryTrack> | null;
  private readonly access: SharedAnswers<'all', LibraryAccessList>;

  constructor(
    private readonly catalog: ServiceClient<CatalogContract>,
    ttlMs: number,
    private readonly options: CallOptions = {},
  ) {
    this.tracks = ttlMs > 0 ? new LruCache(TRACKS_KEPT, ttlMs) : null;
    this.access = new SharedAnswers(ttlMs);
  }

  /**
   * What `caller` sees, looked up now: pass it to `get`. Without a caller the service reads for
   * itself and sees every library (the scrobbler naming a user's own plays). A failed lookup
   * rejects where `get` awaits it, not before.
   */
  scopeOf(caller: Caller | undefined): ReaderScope {
    if (!caller) return null;
    const list = this.access.get('all', () => this.catalog.call('libraryAccess', {}, this.options));
    const scope = list.then((access) => librariesSeenBy(caller.userId, access));
    scope.catch(() => {});
    return scope;
  }

  /**
   * The tracks of `ids` the catalog knows and the reader of `scope` sees, by id; rejects when
   * the catalog does not answer.
   */
  async get(ids: readonly string[], scope: ReaderScope = null): Promise<Map<string, Track>> {
    const distinct = [...new Set(ids)];
    const [tracks, libraries] = await Promise.all([
      this.tracks
        ? this.tracks.getOrLoadMany(distinct, (missing) => this.load(missing))
        : this.load(distinct),
      scope,
    ]);
    const shown = new Map<string, Track>();
    for (const track of tracks.values())
      if (!libraries || readerSees(track, libraries)) shown.set(track.id, track);
    return shown;
  }

  private async load(missing: string[]): Promise<Map<string, LibraryTrack>> {
    const batches: Array<Promise<LibraryTrack[]>> = [];
    for (let i = 0; i < missing.length; i += CATALOG_BATCH) {
      const ids = missing.slice(i, i + CATALOG_BATCH);
      batches.push(this.catalog.call('libraryTracks', { ids }, this.options));
    }
    return new Map((await Promise.all(batches)).flat().map((t) => [t.id, t]));
  }
}
