import { createHash } from 'node:crypto';
import type { CatalogContract, SmartRules, UsersContract } from '../../common/contracts/index.js';
import {
  isUnavailable,
  LruCache,
  type Queryable,
  type ServiceClient,
  UnavailableError,
} from '../../common/index.js';
import { listeningFacts } from './listening.js';

/** A track a smart playlist holds now, with its duration for the playlist's totals. */
export interface SmartTrack {
  id: string;
  durationMs: number;
}

/**
 * How long a worker reuses what the catalog answered for the same rules and the same
 * listening: the bound on how late a change of the catalog (a track added or removed) shows.
 * A play, a rating or a star changes the listening, so it shows at the next read.
 */
export const SMART_CACHE_TTL_MS = 10_000;
/** At most this many answers (of up to 1,000 ids each) per worker: a few MB. */
const SMART_CACHE_SIZE = 100;

/**
 * Evaluates smart playlists on read. The owner's listening is gathered first (plays from the
 * `listening` projection, ratings and stars from the users service); the catalog runs the
 * rules with it (`catalog.matchTracks`). Answers are cached by playlist, rules version and a
 * digest of that listening, so a play shows at once and a catalog change within the TTL.
 */
export class SmartEvaluator {
  private readonly cache = new LruCache<string, SmartTrack[]>(SMART_CACHE_SIZE, SMART_CACHE_TTL_MS);

  constructor(
    private readonly db: Queryable,
    private readonly catalog: ServiceClient<CatalogContract>,
    private readonly users: ServiceClient<UsersContract>,
  ) {}

  async tracks(
    playlist: { id: string; owner_id: string; updated_at: Date },
    rules: SmartRules,
  ): Promise<SmartTrack[]> {
    try {
      const facts = await listeningFacts(this.db, playlist.owner_id, rules, () =>
        this.users.call('songMarks', { userId: playlist.owner_id }),
      );
      const digest = createHash('sha1')
        .update(JSON.stringify([rules, facts ?? null]))
        .digest('base64url');
      const key = `${playlist.id}|${playlist.updated_at.getTime()}|${digest}`;
      return await this.cache.getOrLoad(key, async () => ({
        value: await this.catalog.call('matchTracks', {
          rules,
          ...(facts ? { facts } : {}),
          seed: playlist.id,
          ownerId: playlist.owner_id,
        }),
      }));
    } catch (err) {
      if (isUnavailable(err)) {
        throw new UnavailableError(
          'the catalog or the users service is not available right now; try again shortly',
        );
      }
      throw err;
    }
  }
}
