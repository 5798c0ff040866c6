import { stat } from 'node:fs/promises';
import { ARTIST_INDEX_MAX, type CatalogContract } from '../../common/contracts/catalog.js';
import type { StatsContract } from '../../common/contracts/stats.js';
import { type Handlers, NotFoundError, type Queryable, type ServiceClient } from '../../common/index.js';
import { discoveryHandlers, groupByInitial, StatsReader } from './discovery.js';
import { lyricsByName, lyricsOfTrack } from './lyrics.js';
import { resolveTrackPath } from './media.js';
import { type Filter, LISTINGS, orderBy, Pager } from './pages.js';
import {
  ALBUM_SELECT,
  ALBUM_TRACK_ORDER,
  ARTIST_INDEX_ORDER,
  ARTIST_SELECT,
  albumFilter,
  albumsByIds,
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
import { search } from './search.js';
import { matchTracks } from './smart.js';
import { normalizeGenre } from './text.js';

const NO_FILTER: Filter = { where: [], params: [] };

export interface CatalogDeps {
  db: Queryable;
  stats: ServiceClient<StatsContract>;
  /** Absolute media folder, against which relative track paths resolve. */
  mediaRoot: string;
  /** How long topTracks waits for the stats service. */
  statsTimeoutMs: number;
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
}: CatalogDeps): Handlers<CatalogContract> {
  const counts = new StatsReader(stats, statsTimeoutMs);
  const pager = new Pager(db);
  const totals = async () => {
    const { rows } = await db.query<{ artists: number; albums: number; tracks: number }>(
      'SELECT artists, albums, tracks FROM catalog_totals',
    );
    return rows[0] ?? { artists: 0, albums: 0, tracks: 0 };
  };
  const genreTotals = async (genre: string) => {
    const { rows } = await db.query<{ albums: number; tracks: number }>(
      'SELECT album_count AS albums, track_count AS tracks FROM genres WHERE name = $1',
      [normalizeGenre(genre)],
    );
    return rows[0] ?? { albums: 0, tracks: 0 };
  };
  const trackOrThrow = async (id: string) => {
    const [track] = await queryTracks(db, `${TRACK_SELECT} WHERE t.id = $1`, [id]);
    if (!track) throw new NotFoundError(`no track ${id}`, { id });
    return track;
  };

  return {
    async listArtists({ limit, offset, cursor }) {
      const [page, total] = await Promise.all([
        pager.page(LISTINGS.artists, NO_FILTER, { limit, offset, cursor }),
        totals(),
      ]);
      return {
        items: await artistsByIds(db, page.ids),
        total: total.artists,
        limit,
        offset,
        nextCursor: page.nextCursor,
      };
    },

    async artistIndex() {
      return groupByInitial(
        await queryArtists(db, `${ARTIST_SELECT} ORDER BY ${ARTIST_INDEX_ORDER} LIMIT $1`, [
          ARTIST_INDEX_MAX,
        ]),
      );
    },

    async getArtist({ id }) {
      const [artist] = await queryArtists(db, `${ARTIST_SELECT} WHERE ar.id = $1`, [id]);
      if (!artist) throw new NotFoundError(`no artist ${id}`, { id });
      const albums = await queryAlbums(
        db,
        `${ALBUM_SELECT} WHERE al.artist_id = $1 ORDER BY ${orderBy(LISTINGS.albumsByYear)}`,
        [id],
      );
      return { ...artist, albums };
    },

    getArtists: ({ ids }) => artistsByIds(db, ids),

    getAlbums: ({ ids }) => albumsByIds(db, ids),

    async getAlbum({ id }) {
      const [album] = await queryAlbums(db, `${ALBUM_SELECT} WHERE al.id = $1`, [id]);
      if (!album) throw new NotFoundError(`no album ${id}`, { id });
      const tracks = await queryTracks(
        db,
        `${TRACK_SELECT} WHERE t.album_id = $1 ORDER BY ${ALBUM_TRACK_ORDER}`,
        [id],
      );
      return { ...album, tracks };
    },

    async listAlbums({ sort, limit, offset, cursor, ...filter }) {
      const where = albumFilter(filter);
      const total = async () => {
        if (filter.fromYear !== undefined || filter.toYear !== undefined) {
          return count(db, `SELECT 1 FROM albums al ${whereOf(where)}`, where.params);
        }
        if (filter.genre !== undefined) return (await genreTotals(filter.genre)).albums;
        return (await totals()).albums;
      };
      if (sort === 'random') {
        const [ids, n] = await Promise.all([randomIds(db, 'albums al', where, limit), total()]);
        return { items: await albumsByIds(db, ids), total: n, limit, offset, nextCursor: null };
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
      return { items: await albumsByIds(db, page.ids), total: n, limit, offset, nextCursor: page.nextCursor };
    },

    async albumsOfTracks({ trackIds, limit, offset }) {
      const albumIds = await queryIds(
        db,
        `SELECT t.album_id AS id FROM unnest($1::text[]) WITH ORDINALITY AS asked (track_id, n)
         JOIN tracks t ON t.id = asked.track_id
         GROUP BY t.album_id ORDER BY min(asked.n) LIMIT $2 OFFSET $3`,
        [trackIds, limit, offset],
      );
      return albumsByIds(db, albumIds);
    },

    async listTracks({ genre, limit, offset, cursor }) {
      const [page, total] = await Promise.all([
        pager.page(LISTINGS.tracks, albumFilter({ genre }, 't'), { limit, offset, cursor }),
        genre === undefined ? totals().then((t) => t.tracks) : genreTotals(genre).then((t) => t.tracks),
      ]);
      return { items: await tracksByIds(db, page.ids), total, limit, offset, nextCursor: page.nextCursor };
    },

    getTrack: ({ id }) => trackOrThrow(id),

    async getLyrics({ trackId }) {
      const lyrics = await lyricsOfTrack(db, trackId);
      if (!lyrics) await trackOrThrow(trackId);
      return lyrics;
    },

    findLyrics: ({ artist, title }) => lyricsByName(db, artist, title),

    getTracks: ({ ids, withRemoved }) =>
      withRemoved ? tracksWithRemovedByIds(db, ids) : tracksByIds(db, ids),

    matchTracks: ({ rules, facts, seed }) => matchTracks(db, rules, facts, seed),

    async getTrackFile({ id }) {
      const { rows } = await db.query<{ file_path: string; mime_type: string; duration_ms: number }>(
        'SELECT file_path, mime_type, duration_ms FROM tracks WHERE id = $1',
        [id],
      );
      const row = rows[0];
      if (!row) throw new NotFoundError(`no track ${id}`, { id });
      const path = resolveTrackPath(mediaRoot, row.file_path);
      // The size comes from the file itself: it is what a ranged stream must agree with.
      const info = await stat(path).catch(() => null);
      if (!info?.isFile()) throw new NotFoundError(`the audio file of track ${id} is missing`, { id });
      return { id, path, mimeType: row.mime_type, sizeBytes: info.size, durationMs: row.duration_ms };
    },

    async listGenres() {
      const { rows } = await db.query<{ name: string; album_count: number; track_count: number }>(
        'SELECT name, album_count, track_count FROM genres WHERE album_count > 0 ORDER BY name',
      );
      return rows.map((r) => ({ name: r.name, albumCount: r.album_count, trackCount: r.track_count }));
    },

    version: async () => ({ version: await pager.version() }),

    async randomTracks({ limit, ...filter }) {
      return tracksByIds(db, await randomIds(db, 'tracks t', albumFilter(filter, 't'), limit));
    },

    search: ({ q, limit }) => search(db, q, limit),

    async topTracks({ window, limit }) {
      const plays = await counts.top(window, limit);
      // Tracks removed from the catalog since they were played are left out.
      const tracks = await tracksByIds(db, [...plays.keys()]);
      return tracks.map((t) => ({ ...t, plays: plays.get(t.id) ?? 0 }));
    },

    ...discoveryHandlers(db, counts),
  };
}
