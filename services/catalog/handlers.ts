import { stat } from 'node:fs/promises';
import type { CatalogContract } from '../../common/contracts/catalog.js';
import type { StatsContract, TrackCount } from '../../common/contracts/stats.js';
import {
  type Handlers,
  isAppError,
  NotFoundError,
  type Queryable,
  type ServiceClient,
  UnavailableError,
} from '../../common/index.js';
import { resolveTrackPath } from './media.js';
import {
  ALBUM_ORDER,
  ALBUM_SELECT,
  ALBUM_TRACK_ORDER,
  ARTIST_ORDER,
  ARTIST_SELECT,
  albumsByIds,
  artistsByIds,
  count,
  queryAlbums,
  queryArtists,
  queryTracks,
  TRACK_ORDER,
  TRACK_SELECT,
  tracksByIds,
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
  newest: 'al.created_at DESC, al.id DESC',
  /** Chronological by release year; albums without a year last. */
  year: `al.year NULLS LAST, ${ALBUM_ORDER}`,
  random: 'random()',
} as const;

const GENRE_FILTER = 'lower(al.genre) = lower($1)';

export function catalogHandlers({
  db,
  stats,
  mediaRoot,
  statsTimeoutMs,
}: CatalogDeps): Handlers<CatalogContract> {
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

    async listAlbums({ sort, genre, limit, offset }) {
      const where = genre === undefined ? '' : `WHERE ${GENRE_FILTER}`;
      const filter = genre === undefined ? [] : [genre];
      const n = filter.length;
      const [items, total] = await Promise.all([
        queryAlbums(
          db,
          `${ALBUM_SELECT} ${where} ORDER BY ${ALBUM_SORTS[sort]} LIMIT $${n + 1} OFFSET $${n + 2}`,
          [...filter, limit, offset],
        ),
        count(db, `SELECT 1 FROM albums al ${where}`, filter),
      ]);
      return { items, total, limit, offset };
    },

    async listTracks({ genre, limit, offset }) {
      const where = genre === undefined ? '' : `WHERE ${GENRE_FILTER}`;
      const filter = genre === undefined ? [] : [genre];
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

    getTracks: ({ ids }) => tracksByIds(db, ids),

    async getTrackFile({ id }) {
      const { rows } = await db.query<{ file_path: string; mime_type: string }>(
        'SELECT file_path, mime_type FROM tracks WHERE id = $1',
        [id],
      );
      const row = rows[0];
      if (!row) throw new NotFoundError(`no track ${id}`, { id });
      const path = resolveTrackPath(mediaRoot, row.file_path);
      // The size comes from the file itself: it is what a ranged stream must agree with.
      const info = await stat(path).catch(() => null);
      if (!info?.isFile()) throw new NotFoundError(`the audio file of track ${id} is missing`, { id });
      return { id, path, mimeType: row.mime_type, sizeBytes: info.size };
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

    async randomTracks({ limit, genre }) {
      const where = genre === undefined ? '' : `WHERE ${GENRE_FILTER}`;
      const filter = genre === undefined ? [] : [genre];
      return queryTracks(db, `${TRACK_SELECT} ${where} ORDER BY random() LIMIT $${filter.length + 1}`, [
        ...filter,
        limit,
      ]);
    },

    search: ({ q, limit }) => search(db, q, limit),

    async topTracks({ window, limit }) {
      let counts: TrackCount[];
      try {
        counts = await stats.call('topTracks', { window, limit }, { timeoutMs: statsTimeoutMs });
      } catch (err) {
        if (isAppError(err, 'TIMEOUT') || isAppError(err, 'UNAVAILABLE')) {
          throw new UnavailableError(`play counts are unavailable: ${err.message}`, { service: 'stats' });
        }
        throw err;
      }
      const tracks = await tracksByIds(
        db,
        counts.map((c) => c.trackId),
      );
      const plays = new Map(counts.map((c) => [c.trackId, c.plays]));
      // Tracks removed from the catalog since they were played are left out.
      return tracks.map((t) => ({ ...t, plays: plays.get(t.id) ?? 0 }));
    },
  };
}
