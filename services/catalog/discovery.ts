import type {
  Artist,
  ArtistIndexGroup,
  CatalogContract,
  CoPlayed,
  StatsContract,
  Window,
} from '../../common/contracts/index.js';
import {
  type Handlers,
  isAppError,
  isUnavailable,
  type Logger,
  NotFoundError,
  type Queryable,
  type ServiceClient,
  UnavailableError,
} from '../../common/index.js';
import {
  albumsByIds,
  artistsByIds,
  LEADING_ARTICLE,
  queryIds,
  queryTracks,
  randomIds,
  TRACK_ORDER,
  TRACK_SELECT,
  tracksByIds,
} from './queries.js';
import { inScope, type LibraryAccess, type Scope, scopeParam, withScope } from './scope.js';
import { normalizeText } from './text.js';

/** Most tracks of one artist (or album) taken as the seeds of a similarity or top list. */
const SEED_TRACKS_MAX = 1000;
/**
 * Most played tracks asked of stats for a top list (its bound): a list of what a caller sees
 * is picked from these.
 */
export const TOP_RANKED = 100;
/** Co-played tracks asked of stats when ranking similar artists. */
const CO_PLAYED_FOR_ARTISTS = 200;

/** Play counts from the stats service, whose silence becomes "unavailable" in our words. */
export class StatsReader {
  constructor(
    private readonly stats: ServiceClient<StatsContract>,
    private readonly timeoutMs: number,
  ) {}

  private async ask<T>(call: (opts: { timeoutMs: number }) => Promise<T>): Promise<T> {
    try {
      return await call({ timeoutMs: this.timeoutMs });
    } catch (err) {
      if (isUnavailable(err)) {
        throw new UnavailableError(`play counts are unavailable: ${err.message}`, { service: 'stats' });
      }
      throw err;
    }
  }

  /** The most played tracks of the window, most played first: track id -> plays. */
  async top(window: Window, limit: number): Promise<Map<string, number>> {
    const counts = await this.ask((o) => this.stats.call('topTracks', { window, limit }, o));
    return new Map(counts.map((c) => [c.trackId, c.plays]));
  }

  /** All-time plays of the given tracks (unplayed ones absent). */
  async plays(trackIds: string[]): Promise<Map<string, number>> {
    if (trackIds.length === 0) return new Map();
    const counts = await this.ask((o) => this.stats.call('trackPlays', { trackIds }, o));
    return new Map(counts.map((c) => [c.trackId, c.plays]));
  }

  /**
   * Tracks the listeners of `trackIds` also played; nothing when stats cannot say, since
   * similarity has other sources to fall back on.
   */
  async coPlayed(trackIds: string[], limit: number, log: Logger): Promise<CoPlayed[]> {
    if (trackIds.length === 0) return [];
    try {
      return await this.ask((o) => this.stats.call('coPlayed', { trackIds, limit }, o));
    } catch (err) {
      if (!isAppError(err, 'UNAVAILABLE')) throw err;
      log.warn({ err: err.message }, 'similarity without listening data');
      return [];
    }
  }
}

const ARTICLE = new RegExp(LEADING_ARTICLE);

/** Artists in index order, grouped under the first letter of their sort name ('#' for non-letters). */
export function groupByInitial(artists: Artist[]): ArtistIndexGroup[] {
  const groups = new Map<string, Artist[]>();
  for (const a of artists) {
    const initial = normalizeText(a.name).replace(ARTICLE, '').charAt(0).toUpperCase();
    const key = /\p{L}/u.test(initial) ? initial : '#';
    const group = groups.get(key);
    if (group) group.push(a);
    else groups.set(key, [a]);
  }
  return [...groups.entries()]
    .sort(([a], [b]) => (a === '#' ? -1 : b === '#' ? 1 : a.localeCompare(b)))
    .map(([name, members]) => ({ name, artists: members }));
}

/** Ids and scores as two arrays, for `unnest` in SQL. */
const columns = (items: CoPlayed[]) => [items.map((c) => c.trackId), items.map((c) => c.listeners)];

/** What the catalog answers by combining its own data with the play counts of the stats service. */
export function discoveryHandlers(
  db: Queryable,
  counts: StatsReader,
  access: LibraryAccess,
): Pick<Handlers<CatalogContract>, 'artistInfo' | 'artistTopTracks' | 'similarTracks' | 'topAlbums'> {
  /** The tracks in scope an artist, album or track id stands for, with their artists and genres. */
  async function seedsOf(id: string, scope: Scope) {
    const params: unknown[] = [id, SEED_TRACKS_MAX];
    const visible = inScope('t.library_id', scopeParam(scope, params));
    const { rows } = await db.query<{ id: string; artist_id: string; genre: string | null }>(
      `SELECT id, artist_id, genre FROM (
         SELECT t.id, al.artist_id, t.genre, 0 AS o FROM tracks t JOIN albums al ON al.id = t.album_id
         WHERE t.id = $1 AND ${visible}
         UNION ALL
         SELECT t.id, al.artist_id, t.genre, 1 FROM tracks t JOIN albums al ON al.id = t.album_id
         WHERE t.album_id = $1 AND ${visible}
         UNION ALL
         SELECT t.id, al.artist_id, t.genre, 2 FROM albums al JOIN tracks t ON t.album_id = al.id
         WHERE al.artist_id = $1 AND ${visible}
       ) seeds ORDER BY o LIMIT $2`,
      params,
    );
    return {
      trackIds: rows.map((r) => r.id),
      artistIds: [...new Set(rows.map((r) => r.artist_id))],
      genres: [...new Set(rows.flatMap((r) => (r.genre ? [r.genre] : [])))],
    };
  }

  /** The artist of an artist, album or track id, all in scope. */
  async function artistOf(id: string, scope: Scope): Promise<Artist> {
    const params: unknown[] = [id];
    const libraries = scopeParam(scope, params);
    const [artistId] = await queryIds(
      db,
      `SELECT id FROM artists WHERE id = $1
       UNION ALL SELECT artist_id FROM albums al WHERE id = $1 AND ${inScope('al.library_id', libraries)}
       UNION ALL SELECT al.artist_id FROM tracks t JOIN albums al ON al.id = t.album_id
         WHERE t.id = $1 AND ${inScope('t.library_id', libraries)}
       LIMIT 1`,
      params,
    );
    const [artist] = artistId ? await artistsByIds(db, [artistId], scope) : [];
    if (!artist) throw new NotFoundError(`no artist, album or track ${id}`, { id });
    return artist;
  }

  return {
    async artistInfo({ id, similarLimit }, ctx) {
      const scope = await access.of(ctx);
      const artist = await artistOf(id, scope);
      if (similarLimit === 0) return { artist, similar: [] };
      const seeds = await seedsOf(artist.id, scope);
      const coPlayed = await counts.coPlayed(seeds.trackIds, CO_PLAYED_FOR_ARTISTS, ctx.log);
      // Artists by listeners in common, then artists sharing the most albums' genres.
      const similarIds = await queryIds(
        db,
        `WITH co AS (
           SELECT al.artist_id, sum(c.listeners)::float8 AS score
           FROM unnest($2::text[], $3::int[]) AS c (track_id, listeners)
           JOIN tracks t ON t.id = c.track_id JOIN albums al ON al.id = t.album_id
           WHERE al.artist_id <> $1 GROUP BY al.artist_id
         ), genre AS (
           SELECT al.artist_id, count(*)::float8 AS score FROM albums al
           WHERE al.artist_id <> $1
             AND al.genre IN (SELECT genre FROM albums WHERE artist_id = $1 AND genre IS NOT NULL)
             AND al.artist_id NOT IN (SELECT artist_id FROM co)
           GROUP BY al.artist_id
         )
         SELECT artist_id AS id FROM (
           SELECT artist_id, 1 AS tier, score FROM co UNION ALL SELECT artist_id, 2, score FROM genre
         ) ranked ORDER BY tier, score DESC, artist_id LIMIT $4`,
        [artist.id, ...columns(coPlayed), similarLimit],
      );
      return { artist, similar: await artistsByIds(db, similarIds, scope) };
    },

    async artistTopTracks(params, ctx) {
      const scope = await access.of(ctx);
      const artistIds =
        'artistId' in params
          ? [(await artistOf(params.artistId, scope)).id]
          : await queryIds(db, 'SELECT id FROM artists WHERE search_name = $1', [
              normalizeText(params.artistName),
            ]);
      if (artistIds.length === 0) return [];
      const query: unknown[] = [artistIds, SEED_TRACKS_MAX];
      const libraries = scopeParam(scope, query);
      const tracks = await queryTracks(
        db,
        `${TRACK_SELECT} WHERE al.artist_id = ANY($1::text[]) AND ${inScope('t.library_id', libraries)}
         ORDER BY ${TRACK_ORDER} LIMIT $2`,
        query,
      );
      const plays = await counts.plays(tracks.map((t) => t.id));
      return tracks
        .filter((t) => plays.has(t.id))
        .map((t) => ({ ...t, plays: plays.get(t.id)! }))
        .sort((a, b) => b.plays - a.plays)
        .slice(0, params.limit);
    },

    async similarTracks({ id, limit }, ctx) {
      const scope = await access.of(ctx);
      const seeds = await seedsOf(id, scope);
      if (seeds.trackIds.length === 0) {
        // An artist without tracks has nothing similar; anything else is not in the catalog.
        await artistOf(id, scope);
        return [];
      }
      const [coPlayed, sameGenres] = await Promise.all([
        counts.coPlayed(seeds.trackIds, limit, ctx.log),
        // A few of the same genres' tracks at random (a genre may hold a third of the library).
        seeds.genres.length === 0
          ? []
          : randomIds(
              db,
              'tracks t',
              withScope(
                { where: ['t.genre = ANY($1::text[])'], params: [seeds.genres] },
                't.library_id',
                scope,
              ),
              limit + 1,
            ),
      ]);
      // Co-played tracks in their rank, then the same artists' and the same genres' at random.
      const ids = await queryIds(
        db,
        `WITH picked AS (
           SELECT c.track_id AS id, 1 AS tier, c.n::float8 AS rank
           FROM unnest($1::text[], $2::int[]) WITH ORDINALITY AS c (track_id, listeners, n)
           UNION ALL
           (SELECT t.id, 2, random() FROM albums al JOIN tracks t ON t.album_id = al.id
            WHERE al.artist_id = ANY($3::text[]) LIMIT ${SEED_TRACKS_MAX})
           UNION ALL
           SELECT id, 3, random() FROM unnest($4::text[]) AS g (id)
         )
         SELECT id FROM (
           SELECT DISTINCT ON (id) id, tier, rank FROM picked WHERE id <> $5 ORDER BY id, tier, rank
         ) best ORDER BY tier, rank LIMIT $6`,
        [...columns(coPlayed), seeds.artistIds, sameGenres, id, limit],
      );
      // Co-played tracks may be of libraries out of scope: those are left out here.
      return tracksByIds(db, ids, scope);
    },

    async topAlbums({ window, limit, offset, library }, ctx) {
      const scope = await access.of(ctx, library);
      // The counts stats keeps are per track; the albums of the most played tracks in scope
      // add them up, and the page is cut after those out of scope are left out.
      const plays = await counts.top(window, TOP_RANKED);
      const params: unknown[] = [[...plays.keys()], [...plays.values()], limit, offset];
      const visible = inScope('t.library_id', scopeParam(scope, params));
      const { rows } = await db.query<{ album_id: string; plays: number }>(
        `SELECT t.album_id, sum(c.plays)::float8 AS plays
         FROM unnest($1::text[], $2::bigint[]) AS c (track_id, plays) JOIN tracks t ON t.id = c.track_id
         WHERE ${visible}
         GROUP BY t.album_id ORDER BY plays DESC, t.album_id LIMIT $3 OFFSET $4`,
        params,
      );
      const byAlbum = new Map(rows.map((r) => [r.album_id, r.plays]));
      const albums = await albumsByIds(
        db,
        rows.map((r) => r.album_id),
        scope,
      );
      return albums.map((a) => ({ ...a, plays: byAlbum.get(a.id) ?? 0 }));
    },
  };
}
