import { isAbsolute, resolve } from 'node:path';
import {
  type CatalogContract,
  LIBRARIES_MAX,
  LIBRARY_GRANTS_MAX,
  type Library,
  type ManagedLibrary,
} from '../../common/contracts/index.js';
import {
  ConflictError,
  type Handlers,
  InvalidParamsError,
  NotFoundError,
  type Pool,
  type Queryable,
  withTransaction,
} from '../../common/index.js';
import { removeLibraryFiles, republishLibrary } from './library/playlist-files.js';
import { libraryTracksByIds, queryIds } from './queries.js';
import type { LibraryAccess } from './scope.js';
import { removeTracks } from './store.js';

/** Tracks a library's removal moves to removed_tracks per statement. */
const REMOVAL_BATCH = 1000;

/** Libraries: listing what a caller sees, and their management (admin methods: the RPC server lets only administrators call them). */

interface LibraryRow {
  id: number;
  name: string;
  path: string | null;
  everyone: boolean;
  album_count: number;
  track_count: number;
  owner_id: string | null;
  user_ids: string[];
}

const LIBRARY_SELECT = `
  SELECT l.id, l.name, l.path, l.everyone, l.album_count, l.track_count, l.owner_id,
         coalesce((SELECT array_agg(g.user_id ORDER BY g.user_id) FROM (
           SELECT user_id FROM library_grants WHERE library_id = l.id ORDER BY user_id LIMIT ${LIBRARY_GRANTS_MAX}) g),
           '{}') AS user_ids
  FROM libraries l`;

const toLibrary = (r: LibraryRow): Library => ({
  id: r.id,
  name: r.name,
  albumCount: r.album_count,
  trackCount: r.track_count,
});

const toManaged = (r: LibraryRow): ManagedLibrary => ({
  ...toLibrary(r),
  path: r.path,
  everyone: r.everyone,
  userIds: r.user_ids,
  ownerId: r.owner_id,
});

async function libraryRows(db: Queryable, where = 'true', params: unknown[] = []): Promise<LibraryRow[]> {
  const { rows } = await db.query<LibraryRow>(
    `${LIBRARY_SELECT} WHERE l.removed_at IS NULL AND ${where} ORDER BY l.id LIMIT ${LIBRARIES_MAX}`,
    params,
  );
  return rows;
}

async function managed(db: Queryable, id: number): Promise<ManagedLibrary> {
  const [row] = await libraryRows(db, 'l.id = $1', [id]);
  if (!row) throw new NotFoundError(`no library ${id}`, { id });
  return toManaged(row);
}

/**
 * A track's path as a playlist file names it: relative to its library's folder. A file outside
 * it (imported by `npm run import` into a library without a folder) is named by its last three
 * parts, the usual Artist/Album/file layout: never by the server's absolute path.
 */
export function pathInLibrary(filePath: string, folder: string | null): string {
  if (folder && filePath.startsWith(`${folder}/`)) return filePath.slice(folder.length + 1);
  if (!isAbsolute(filePath)) return filePath;
  return filePath.split('/').filter(Boolean).slice(-3).join('/');
}

/** Postgres' unique violation: a name or folder already taken. */
const isUniqueViolation = (err: unknown) => (err as { code?: string }).code === '23505';

/** Forgets deleted accounts' grants (the users service's `user.deleted`). */
export async function forgetUsers(db: Queryable, userIds: readonly string[]): Promise<void> {
  await db.query('DELETE FROM library_grants WHERE user_id = ANY($1::text[])', [userIds]);
}

/** The folders libraries watch (for the workers that import and watch them). */
export async function libraryFolders(db: Queryable): Promise<Array<{ id: number; path: string }>> {
  const { rows } = await db.query<{ id: number; path: string }>(
    `SELECT id, path FROM libraries WHERE path IS NOT NULL AND removed_at IS NULL ORDER BY id LIMIT ${LIBRARIES_MAX}`,
  );
  return rows;
}

/**
 * Library 1 (the catalog as it was before libraries) takes the configured folder when it has
 * none yet, and its name from it while it still has the name the migration gave it.
 */
export async function adoptLibraryFolder(db: Queryable, folder: string): Promise<void> {
  const name = folder.split('/').filter(Boolean).at(-1) ?? 'Music';
  await db.query(
    `UPDATE libraries SET path = $1,
       name = CASE WHEN name = 'Music' AND NOT EXISTS (
         SELECT 1 FROM libraries WHERE name = $2 AND removed_at IS NULL) THEN $2 ELSE name END
     WHERE id = 1 AND path IS NULL AND removed_at IS NULL
       AND NOT EXISTS (SELECT 1 FROM libraries WHERE path = $1)`,
    [folder, name.slice(0, 100)],
  );
}

export function librariesHandlers(
  db: Pool,
  access: LibraryAccess,
  onChanged: () => void,
): Pick<
  Handlers<CatalogContract>,
  | 'listLibraries'
  | 'manageLibraries'
  | 'addLibrary'
  | 'updateLibrary'
  | 'removeLibrary'
  | 'grantLibrary'
  | 'revokeLibrary'
  | 'trackPaths'
  | 'libraryAccess'
  | 'libraryTracks'
> {
  const changed = () => {
    access.invalidate();
    onChanged();
  };
  const grant = async (id: number, userId: string, granted: boolean) => {
    await managed(db, id);
    if (granted) {
      // Who sees a library is read whole (LibraryAccess): its grants stay bounded.
      const { rows } = await db.query<{ n: number; has: boolean | null }>(
        'SELECT count(*)::int AS n, bool_or(user_id = $2) AS has FROM library_grants WHERE library_id = $1',
        [id, userId],
      );
      if (!rows[0]?.has && (rows[0]?.n ?? 0) >= LIBRARY_GRANTS_MAX) {
        throw new ConflictError(`a library is granted to at most ${LIBRARY_GRANTS_MAX} users`);
      }
    }
    await db.query(
      granted
        ? 'INSERT INTO library_grants (library_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING'
        : 'DELETE FROM library_grants WHERE library_id = $1 AND user_id = $2',
      [id, userId],
    );
    changed();
    return managed(db, id);
  };

  return {
    async listLibraries(_params, ctx) {
      const scope = await access.of(ctx);
      const rows =
        scope === null ? await libraryRows(db) : await libraryRows(db, 'l.id = ANY($1::int[])', [scope]);
      return rows.map(toLibrary);
    },

    async manageLibraries() {
      return (await libraryRows(db)).map(toManaged);
    },

    async addLibrary({ name, path, everyone, ownerId }) {
      if (!isAbsolute(path)) throw new InvalidParamsError('path must be an absolute folder on the server');
      const folder = resolve(path);
      const { rows: overlapping } = await db.query<{ name: string }>(
        `SELECT name FROM libraries
         WHERE path = $1 OR starts_with($1, path || '/') OR starts_with(path, $1 || '/') LIMIT 1`,
        [folder],
      );
      if (overlapping[0]) {
        throw new ConflictError(`${folder} overlaps the folder of library "${overlapping[0].name}"`);
      }
      const { rows: counted } = await db.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM libraries WHERE removed_at IS NULL',
      );
      if ((counted[0]?.n ?? 0) >= LIBRARIES_MAX) {
        throw new ConflictError(`a catalog holds at most ${LIBRARIES_MAX} libraries`);
      }
      try {
        const { rows } = await db.query<{ id: number }>(
          'INSERT INTO libraries (name, path, everyone, owner_id) VALUES ($1, $2, $3, $4) RETURNING id',
          [name, folder, everyone, ownerId ?? null],
        );
        changed();
        return managed(db, rows[0]!.id);
      } catch (err) {
        if (isUniqueViolation(err))
          throw new ConflictError(`a library is already named "${name}" or has that folder`);
        throw err;
      }
    },

    async updateLibrary({ id, name, everyone, ownerId }, ctx) {
      try {
        await withTransaction(db, async (tx) => {
          const { rows } = await tx.query<{ owner_changed: boolean }>(
            `UPDATE libraries l SET name = coalesce($2, l.name), everyone = coalesce($3, l.everyone),
               owner_id = CASE WHEN $4 THEN $5 ELSE l.owner_id END
             FROM (SELECT owner_id FROM libraries WHERE id = $1 FOR UPDATE) old
             WHERE l.id = $1 AND l.removed_at IS NULL RETURNING l.owner_id IS DISTINCT FROM old.owner_id AS owner_changed`,
            [id, name ?? null, everyone ?? null, ownerId !== undefined, ownerId ?? null],
          );
          if (!rows[0]) throw new NotFoundError(`no library ${id}`, { id });
          // Its file playlists move to the new owner.
          if (rows[0].owner_changed) {
            const files = await republishLibrary(tx, id);
            ctx.log.info({ library: id, files }, 'library owner changed; playlist files published again');
          }
        });
      } catch (err) {
        if (isUniqueViolation(err)) throw new ConflictError(`a library is already named "${name}"`);
        throw err;
      }
      changed();
      return managed(db, id);
    },

    async removeLibrary({ id }, ctx) {
      await managed(db, id);
      // Its tracks leave as any removed track does (removed_tracks, with their library), a
      // batch at a time; then its albums, then artists left without albums anywhere: each
      // statement's triggers take its rows' counts away (migrations 004, 007). The library
      // stays as a removed row with its grants, which say who still sees what its tracks were.
      let tracks = 0;
      for (;;) {
        const batch = await queryIds(
          db,
          `SELECT id FROM tracks WHERE library_id = $1 ORDER BY id LIMIT ${REMOVAL_BATCH}`,
          [id],
        );
        if (batch.length === 0) break;
        await removeTracks(db, batch);
        tracks += batch.length;
      }
      await db.query(
        `WITH albums_gone AS (DELETE FROM albums WHERE library_id = $1 RETURNING artist_id)
         DELETE FROM artists ar WHERE ar.id IN (SELECT artist_id FROM albums_gone)
           AND NOT EXISTS (SELECT 1 FROM albums al WHERE al.artist_id = ar.id AND al.library_id <> $1)`,
        [id],
      );
      await db.query('DELETE FROM library_artists WHERE library_id = $1', [id]);
      await db.query('DELETE FROM library_genres WHERE library_id = $1', [id]);
      // Its playlist files leave with it: their playlists are removed.
      await withTransaction(db, async (tx) => {
        await removeLibraryFiles(tx, id);
        await tx.query('UPDATE libraries SET removed_at = now(), path = NULL WHERE id = $1', [id]);
      });
      changed();
      ctx.log.info({ library: id, tracks }, 'library removed');
      return { removed: true as const, tracks };
    },

    async grantLibrary({ id, userId }) {
      return grant(id, userId, true);
    },

    async revokeLibrary({ id, userId }) {
      return grant(id, userId, false);
    },

    libraryAccess: () => access.list(),

    libraryTracks: ({ ids }) => libraryTracksByIds(db, ids),

    async trackPaths({ ids }) {
      const { rows } = await db.query<{
        id: string;
        library_id: number;
        file_path: string;
        folder: string | null;
      }>(
        `SELECT t.id, t.library_id, t.file_path, l.path AS folder
         FROM unnest($1::text[]) WITH ORDINALITY AS q (id, ord)
         JOIN tracks t ON t.id = q.id JOIN libraries l ON l.id = t.library_id ORDER BY q.ord`,
        [ids],
      );
      return rows.map((r) => ({
        id: r.id,
        libraryId: r.library_id,
        path: pathInLibrary(r.file_path, r.folder),
      }));
    },
  };
}
