import { stat } from 'node:fs/promises';
import { ARTIST_INDEX_MAX, type CatalogContract, type StatsContract } from '../../common/contracts/index.js';
import {
  type Handlers,
  LruCache,
  NotFoundError,
  type Pool,
  prepared,
  type ServiceClient,
} from '../../common/index.js';
import { discoveryHandlers, groupByInitial, StatsReader, TOP_RANKED } from './discovery.js';
import { librariesHandlers } from './libraries.js';
import { lyricsByName, lyricsOfTrack } from './lyrics.js';
import { resolveTrackPath } from './media.js';
import { type Filter, LISTINGS, orderBy, Pager } from './pages.js';
import {
  ALBUM_SELECT,
  ALBUM_TRACK_ORDER,
  ARTIST_INDEX_ORDER,
  albumFilter,
  albumsByIds,
  artistSelect,
  artistsByIds,
  count,
  queryAlbums,
  queryArtists,
  queryIds,
  queryTracks,
  randomIds,
  TRACK_SELECT,
  tracksByIds,
  tracksWithRemovedByIds,
  whereOf,
} from './queries.js';
import { inScope, LibraryAccess, type Scope, scopeParam } from './scope.js';
import { search } from './search.js';
import { matchTracks } from './smart.js';
import { normalizeGenre } from './text.js';

export interface CatalogDeps {
  db: Pool;
  stats: ServiceClient<StatsContract>;
  /** Absolute media folder, against which relative track paths resolve. */
  mediaRoot: string;
  /** How long topTracks waits for the stats service. */
  statsTimeoutMs: number;
  /** After a library was added, changed or removed here (the workers watching folders follow). */
  onLibrariesChanged?: () => void;
}

/** The listing of each album order (services/catalog/pages.ts). */
const ALBUM_LISTINGS = {
  alphabetical: LISTINGS.albums,
  artist: LISTINGS.albumsByArtist,
  newest: LISTINGS.albumsNewest,
  /** Chronological by release year; albums without a year last. */
  year: LISTINGS.albumsByYear,
} as const;

export function catalogHandlers({
  db,
  stats,
  mediaRoot,
  statsTimeoutMs,
  onLibrariesChanged,
}: CatalogDeps): Handlers<CatalogContract> {
  const counts = new StatsReader(stats, statsTimeoutMs);
  const pager = new Pager(db);
  const access = new LibraryAccess(db);
  const scopedTotals = new LruCache<string, { artists: number; albums: number; tracks: number }>(64, 60_000);
  /** Catalog totals, or the sums over the libraries in scope (kept by migration 007's triggers). */
  const totals = async (scope: Scope) => {
    if (scope === null) {
      const { rows } = await db.query<{ artists: number; albums: number; tracks: number }>(
        'SELECT artists, albums, tracks FROM catalog_totals',
      );
      return rows[0] ?? { artists: 0, albums: 0, tracks: 0 };
    }
    // Artists in several libraries count once: a distinct count, kept per catalog version.
    const version = await pager.version();
    return scopedTotals.getOrLoad(`${version}/${scope.join(',')}`, async () => {
      const { rows } = await db.query<{ artists: number; albums: number; tracks: number }>(
        `SELECT (SELECT count(DISTINCT artist_id) FROM library_artists WHERE library_id = ANY($1::int[]))::int AS artists,
                coalesce(sum(album_count), 0)::int AS albums, coalesce(sum(track_count), 0)::int AS tracks
         FROM libraries WHERE id = ANY($1::int[])`,
        [scope],
      );
      return { value: rows[0]! };
    });
  };
  const genreTotals = async (genre: string, scope: Scope) => {
    const { rows } =
      scope === null
        ? await db.query<{ albums: number; tracks: number }>(
            'SELECT album_count AS albums, track_count AS tracks FROM genres WHERE name = $1',
            [normalizeGenre(genre)],
          )
        : await db.query<{ albums: number; tracks: number }>(
            `SELECT coalesce(sum(album_count), 0)::int AS albums, coalesce(sum(track_count), 0)::int AS tracks
             FROM library_genres WHERE name = $1 AND library_id = ANY($2::int[])`,
            [normalizeGenre(genre), scope],
          );
    return rows[0] ?? { albums: 0, tracks: 0 };
  };
  /** Albums released from year to year (either way round) in scope: a sum over library_years (migration 010). */
  const yearTotal = async (from: number, to: number, scope: Scope) => {
    const params: unknown[] = [Math.min(from, to), Math.max(from, to)];
    const libraries = scopeParam(scope, params);
    const { rows } = await db.query<{ n: number }>(
      prepared(
        `SELECT coalesce(sum(album_count), 0)::int AS n FROM library_years
         WHERE year BETWEEN $1 AND $2 AND ${inScope('library_id', libraries)}`,
        params,
      ),
    );
    return rows[0]?.n ?? 0;
  };
  const trackOrThrow = async (id: string, scope: Scope) => {
    const [track] = await tracksByIds(db, [id], scope);
    if (!track) throw new NotFoundError(`no track ${id}`, { id });
    return track;
  };
  /** Artists with albums in the scope's libraries (a condition on `ar`), as a listing filter. */
  const artistsIn = (scope: Scope): Filter => {
    const params: unknown[] = [];
    const param = scopeParam(scope, params);
    if (param === null) return { where: [], params };
    return {
      where: [
        `EXISTS (SELECT 1 FROM library_artists la WHERE la.artist_id = ar.id AND ${inScope('la.library_id', param)})`,
      ],
      params,
    };
  };

  return {
    async listArtists({ limit, offset, cursor, library }, ctx) {
      const scope = await access.of(ctx, library);
      const [page, total] = await Promise.all([
        pager.page(LISTINGS.artists, artistsIn(scope), { limit, offset, cursor }),
        totals(scope),
      ]);
      return {
        items: await artistsByIds(db, page.ids, scope),
        total: total.artists,
        limit,
        offset,
        nextCursor: page.nextCursor,
      };
    },

    async artistIndex({ library }, ctx) {
      const params: unknown[] = [ARTIST_INDEX_MAX];
      const select = artistSelect(scopeParam(await access.of(ctx, library), params));
      return groupByInitial(
        await queryArtists(db, `${select} ORDER BY ${ARTIST_INDEX_ORDER} LIMIT $1`, params),
      );
    },

    async getArtist({ id }, ctx) {
      const scope = await access.of(ctx);
      const [artist] = await artistsByIds(db, [id], scope);
      if (!artist) throw new NotFoundError(`no artist ${id}`, { id });
      const params: unknown[] = [id];
      const libraries = scopeParam(scope, params);
      const albums = await queryAlbums(
        db,
        `${ALBUM_SELECT} WHERE al.artist_id = $1 AND ${inScope('al.library_id', libraries)}
         ORDER BY ${orderBy(LISTINGS.albumsByYear)}`,
        params,
      );
      return { ...artist, albums };
    },

    getArtists: async ({ ids, library }, ctx) => artistsByIds(db, ids, await access.of(ctx, library)),

    getAlbums: async ({ ids, library }, ctx) => albumsByIds(db, ids, await access.of(ctx, library)),

    async getAlbum({ id }, ctx) {
      const [album] = await albumsByIds(db, [id], await access.of(ctx));
      if (!album) throw new NotFoundError(`no album ${id}`, { id });
      const tracks = await queryTracks(
        db,
        `${TRACK_SELECT} WHERE t.album_id = $1 ORDER BY ${ALBUM_TRACK_ORDER}`,
        [id],
      );
      return { ...album, tracks };
    },

    async listAlbums({ sort, limit, offset, cursor, library, ...filter }, ctx) {
      const scope = await access.of(ctx, library);
      const where = albumFilter(filter, 'al', scope);
      const total = async () => {
        if (filter.fromYear !== undefined || filter.toYear !== undefined) {
          if (filter.genre === undefined)
            return yearTotal(filter.fromYear ?? 0, filter.toYear ?? 9999, scope);
          return count(db, `SELECT 1 FROM albums al ${whereOf(where)}`, where.params);
        }
        if (filter.genre !== undefined) return (await genreTotals(filter.genre, scope)).albums;
        return (await totals(scope)).albums;
      };
      if (sort === 'random') {
        const [ids, n] = await Promise.all([randomIds(db, 'albums al', where, limit), total()]);
        return { items: await albumsByIds(db, ids, scope), total: n, limit, offset, nextCursor: null };
      }
      const latestFirst = sort === 'year' && (filter.fromYear ?? 0) > (filter.toYear ?? 9999);
      const listing = latestFirst ? LISTINGS.albumsLatestYears : ALBUM_LISTINGS[sort];
      // The same years as the latest-first index holds them, so its range is what is read.
      const ranged = latestFirst
        ? {
            where: [
              ...where.where,
              `coalesce(-al.year, 1) BETWEEN $${where.params.length + 1} AND $${where.params.length + 2}`,
            ],
            params: [...where.params, -(filter.fromYear ?? 9999), -(filter.toYear ?? 0)],
          }
        : where;
      const [page, n] = await Promise.all([pager.page(listing, ranged, { limit, offset, cursor }), total()]);
      return {
        items: await albumsByIds(db, page.ids, scope),
        total: n,
        limit,
        offset,
        nextCursor: page.nextCursor,
      };
    },

    async albumsOfTracks({ trackIds, limit, offset, library }, ctx) {
      const params: unknown[] = [trackIds, limit, offset];
      const libraries = scopeParam(await access.of(ctx, library), params);
      const albumIds = await queryIds(
        db,
        `SELECT t.album_id AS id FROM unnest($1::text[]) WITH ORDINALITY AS asked (track_id, n)
         JOIN tracks t ON t.id = asked.track_id WHERE ${inScope('t.library_id', libraries)}
         GROUP BY t.album_id ORDER BY min(asked.n) LIMIT $2 OFFSET $3`,
        params,
      );
      return albumsByIds(db, albumIds, null);
    },

    async listTracks({ genre, limit, offset, cursor, library }, ctx) {
      const scope = await access.of(ctx, library);
      const [page, total] = await Promise.all([
        pager.page(LISTINGS.tracks, albumFilter({ genre }, 't', scope), { limit, offset, cursor }),
        genre === undefined
          ? totals(scope).then((t) => t.tracks)
          : genreTotals(genre, scope).then((t) => t.tracks),
      ]);
      return {
        items: await tracksByIds(db, page.ids, scope),
        total,
        limit,
        offset,
        nextCursor: page.nextCursor,
      };
    },

    getTrack: async ({ id }, ctx) => trackOrThrow(id, await access.of(ctx)),

    async getLyrics({ trackId }, ctx) {
      // The track first: lyrics of a track out of scope are as unknown as the track.
      await trackOrThrow(trackId, await access.of(ctx));
      return lyricsOfTrack(db, trackId);
    },

    findLyrics: async ({ artist, title }, ctx) => lyricsByName(db, artist, title, await access.of(ctx)),

    getTracks: async ({ ids, withRemoved, library }, ctx) => {
      const scope = await access.of(ctx, library);
      return withRemoved
        ? tracksWithRemovedByIds(db, ids, scope, await access.removedOf(ctx, library))
        : tracksByIds(db, ids, scope);
    },

    /** Run for the playlist's owner: only the libraries they see (a service's call sees every one). */
    matchTracks: async ({ rules, facts, seed, ownerId }) =>
      matchTracks(db, rules, facts, seed, await access.ofUser(ownerId)),

    async getTrackFile({ id }, ctx) {
      const params: unknown[] = [id];
      const libraries = scopeParam(await access.of(ctx), params);
      const { rows } = await db.query<{ file_path: string; mime_type: string; duration_ms: number }>(
        `SELECT file_path, mime_type, duration_ms FROM tracks t WHERE id = $1 AND ${inScope('t.library_id', libraries)}`,
        params,
      );
      const row = rows[0];
      if (!row) throw new NotFoundError(`no track ${id}`, { id });
      const path = resolveTrackPath(mediaRoot, row.file_path);
      // The size comes from the file itself: it is what a ranged stream must agree with.
      const info = await stat(path).catch(() => null);
      if (!info?.isFile()) throw new NotFoundError(`the audio file of track ${id} is missing`, { id });
      return { id, path, mimeType: row.mime_type, sizeBytes: info.size, durationMs: row.duration_ms };
    },

    async listGenres({ library }, ctx) {
      const scope = await access.of(ctx, library);
      const { rows } =
        scope === null
          ? await db.query<{ name: string; album_count: number; track_count: number }>(
              'SELECT name, album_count, track_count FROM genres WHERE album_count > 0 ORDER BY name',
            )
          : await db.query<{ name: string; album_count: number; track_count: number }>(
              `SELECT name, sum(album_count)::int AS album_count, sum(track_count)::int AS track_count
               FROM library_genres WHERE library_id = ANY($1::int[]) AND album_count > 0
               GROUP BY name ORDER BY name`,
              [scope],
            );
      return rows.map((r) => ({ name: r.name, albumCount: r.album_count, trackCount: r.track_count }));
    },

    async version({ library }, ctx) {
      const [version, scope] = await Promise.all([pager.version(), access.of(ctx, library)]);
      return { version: scope === null ? version : `${version}:${scope.join(',')}` };
    },

    async randomTracks({ limit, library, ...filter }, ctx) {
      const scope = await access.of(ctx, library);
      return tracksByIds(db, await randomIds(db, 'tracks t', albumFilter(filter, 't', scope), limit), scope);
    },

    search: async ({ q, limit, library }, ctx) => search(db, q, limit, await access.of(ctx, library)),

    async topTracks({ window, limit, library }, ctx) {
      const scope = await access.of(ctx, library);
      // Tracks removed from the catalog since they were played, and those out of scope, are
      // left out before the list is cut (of the most played overall, as far as stats ranks).
      const plays = await counts.top(window, scope === null ? limit : TOP_RANKED);
      const tracks = await tracksByIds(db, [...plays.keys()], scope);
      return tracks.slice(0, limit).map((t) => ({ ...t, plays: plays.get(t.id) ?? 0 }));
    },

    ...discoveryHandlers(db, counts, access),
    ...librariesHandlers(db, access, onLibrariesChanged ?? (() => {})),
  };
}
