import { type CatalogContract, hiddenTrack, MAX_IDS, type Track } from '../../common/contracts/index.js';
import {
  type Caller,
  type CallOptions,
  isUnavailable,
  NotFoundError,
  type ServiceClient,
  UnavailableError,
} from '../../common/index.js';

/** A catalog call, with "the catalog is away" in the playlists service's words. */
export async function fromCatalog<T>(call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (err) {
    if (isUnavailable(err)) {
      throw new UnavailableError('the catalog is not available right now; try again shortly');
    }
    throw err;
  }
}

/** What a playlist read by nobody logged in says it is for: an anonymous client. */
const ANONYMOUS_READER = 'anonymous';

/** The most ids `catalog.getTracks` takes in one call (its contract's bound). */
const BATCH = MAX_IDS;

/**
 * Track details from the catalog for one request: ids are fetched once, in as few
 * `getTracks` calls as the ids need (one unless a playlist has over MAX_IDS distinct tracks),
 * and remembered for the rest of the request. Tracks whose files left the library come too,
 * marked `unavailable`: a playlist keeps and shows them, but no one can add them.
 *
 * The catalog is asked as the request's reader (`reader`; none: an anonymous client), so a
 * track of a library the reader may not see comes as `hiddenTrack`: a playlist shows its place
 * as unavailable, with no names, and nobody adds it.
 */
export class TrackLookup {
  private readonly known = new Map<string, Track>();
  private readonly as: CallOptions;

  constructor(
    private readonly catalog: ServiceClient<CatalogContract>,
    reader: Caller | undefined,
  ) {
    // A call with neither caller nor client address is a service's own and sees every library.
    this.as = reader ? { caller: reader } : { clientAddress: ANONYMOUS_READER };
  }

  /** Fetches the ids not yet known. Throws UnavailableError when the catalog does not answer. */
  async load(ids: Iterable<string>): Promise<void> {
    const missing = [...new Set(ids)].filter((id) => !this.known.has(id));
    for (const track of await this.fetch(missing, this.as)) this.known.set(track.id, track);
    // A track of a library the reader may not see keeps its place, unavailable and without
    // names; only the service itself (which sees every library) can tell it from an id the
    // catalog never had, which is left out.
    const unseen = missing.filter((id) => !this.known.has(id));
    if (unseen.length === 0) return;
    for (const track of await this.fetch(unseen, {})) this.known.set(track.id, hiddenTrack(track.id));
  }

  private async fetch(ids: readonly string[], as: CallOptions): Promise<Track[]> {
    const batches: string[][] = [];
    for (let i = 0; i < ids.length; i += BATCH) batches.push(ids.slice(i, i + BATCH));
    const results = await fromCatalog(
      Promise.all(
        batches.map((batch) => this.catalog.call('getTracks', { ids: batch, withRemoved: true }, as)),
      ),
    );
    return results.flat();
  }

  get(id: string): Track | undefined {
    return this.known.get(id);
  }

  /** Throws NotFoundError naming the loaded ids the catalog does not have (or no longer has). */
  requireKnown(ids: readonly string[]): void {
    const unknown = [...new Set(ids.filter((id) => !this.known.get(id) || this.known.get(id)?.unavailable))];
    if (unknown.length > 0) {
      const named = unknown.slice(0, 10).join(', ');
      const more = unknown.length > 10 ? ` and ${unknown.length - 10} more` : '';
      throw new NotFoundError(`unknown track${unknown.length > 1 ? 's' : ''}: ${named}${more}`, {
        trackIds: unknown,
      });
    }
  }
}
