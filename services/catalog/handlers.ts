import { stat } from 'node:fs/promises';
import { ARTIST_INDEX_MAX, type CatalogContract } from '../../common/contracts/catalog.js';
import type { StatsContract } from '../../common/contracts/stats.js';
import { type Handlers, NotFoundError, type Queryable, type ServiceClient } from '../../common/index.js';
import { discoveryHandlers, groupByInitial, StatsReader } from './discovery.js';
import { lyricsByName, lyricsOfTrack } from './lyrics.js';
import { resolveTrackPath } from './media.js';
import {
  ALBUM_ORDER,
  ALBUM_SELECT,
  ALBUM_TRACK_ORDER,
  ARTIST_INDEX_ORDER,
  ARTIST_ORDER,
  ARTIST_SELECT,
  albumFilter,
  albumsByIds,
  artistsByIds,
  count,
  queryAlbums,
  queryArtists,
  queryIds,
  queryTracks,
  TRACK_ORDER,
  TRACK_SELECT,
  tracksByIds,
  tracksWithRemovedByIds,
} from './queries.js';
import { search } from './search.js';

export interface CatalogDeps {
  db: Queryable;
  stats: ServiceClient<StatsContract>;
  /** Absolute media folder, against which relative track paths resolve. */
  mediaRoot: string;
  /** How long topTracks waits for the stats service. */
  statsTimeoutMs: number;
}

const ALBUM_SORTS = {
  alphabetical: ALBUM_ORDER,
  artist: `ar.search_name, ar.name, ${ALBUM_ORDER}`,
  newest: 'al.created_at DESC, al.id DESC',
  /** Chronological by release year; albums without a year last. */
  year: `al.year NULLS LAST, ${ALBUM_ORDER}`,
  random: 'random()',
} as const;
const LATEST_YEARS_FIRST = `al.year DESC NULLS LAST, ${ALBUM_ORDER}`;

export function catalogHandlers({
  db,
  stats,
  mediaRoot,
  statsTimeoutMs,
}: CatalogDeps): Handlers<CatalogContract> {
  const counts = new StatsReader(stats, statsTimeoutMs);
  const trackOrThrow = async (id: string) => {
    const [track] = await queryTracks(db, `${TRACK_SELECT} WHERE t.id = $1`, [id]);
    if (!track) throw new NotFoundError(`no track ${id}`, { id });
    return track;
  };

  return {
    async listArtists({ limit, offset }) {
      const [items, total] = await Promise.all([
        queryArtists(db, `${ARTIST_SELECT} ORDER BY ${ARTIST_ORDER} LIMIT $1 OFFSET $2`, [limit, offset]),
        count(db, 'SELECT 1 FROM artists', []),
      ]);
      return { items, total, limit, offset };
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
        `${ALBUM_SELECT} WHERE al.artist_id = $1 ORDER BY ${ALBUM_SORTS.year}`,
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

    async listAlbums({ sort, limit, offset, ...filter }) {
      const { where, params } = albumFilter(filter);
      const n = params.length;
      const order =
        sort === 'year' && (filter.fromYear ?? 0) > (filter.toYear ?? 9999)
          ? LATEST_YEARS_FIRST
          : ALBUM_SORTS[sort];
      const [items, total] = await Promise.all([
        queryAlbums(db, `${ALBUM_SELECT} ${where} ORDER BY ${order} LIMIT $${n + 1} OFFSET $${n + 2}`, [
          ...params,
          limit,
          offset,
        ]),
        count(db, `SELECT 1 FROM albums al ${where}`, params),
      ]);
      return { items, total, limit, offset };
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

    async listTracks({ genre, limit, offset }) {
      const { where, params: filter } = albumFilter({ genre });
      const n = filter.length;
      const [items, total] = await Promise.all([
        queryTracks(db, `${TRACK_SELECT} ${where} ORDER BY ${TRACK_ORDER} LIMIT $${n + 1} OFFSET $${n + 2}`, [
          ...filter,
          limit,
          offset,
        ]),
        count(db, `SELECT 1 FROM tracks t JOIN albums al ON al.id = t.album_id ${where}`, filter),
      ]);
      return { items, total, limit, offset };
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
        `SELECT al.genre AS name, count(DISTINCT al.id)::int AS album_count, count(t.id)::int AS track_count
         FROM albums al LEFT JOIN tracks t ON t.album_id = al.id
         WHERE al.genre IS NOT NULL
         GROUP BY al.genre ORDER BY al.genre`,
      );
      return rows.map((r) => ({ name: r.name, albumCount: r.album_count, trackCount: r.track_count }));
    },

    async randomTracks({ limit, ...filter }) {
      const { where, params } = albumFilter(filter);
      return queryTracks(db, `${TRACK_SELECT} ${where} ORDER BY random() LIMIT $${params.length + 1}`, [
        ...params,
        limit,
      ]);
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
