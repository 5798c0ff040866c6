import {
  type CatalogContract,
  Events,
  MAX_IDS,
  type PlaylistExport,
  type PlaylistFileChanged,
  type PlaylistFileRemoved,
  type PlaylistFileSource,
  type UsersContract,
} from '../../common/contracts/index.js';
import {
  type Caller,
  type EventEnvelope,
  enqueueEvent,
  ForbiddenError,
  NotFoundError,
  type Pool,
  type PoolClient,
  type ServiceClient,
  UnavailableError,
  withTransaction,
} from '../../common/index.js';
import {
  deletePlaylist,
  findPlaylist,
  insertEntries,
  insertPlaylist,
  type PlaylistRow,
  refreshTotals,
} from './store.js';
import { fromCatalog, type TrackLookup } from './tracks.js';

/**
 * Playlists made from the catalog's playlist files. The catalog reads a library's `.m3u` /
 * `.m3u8` files and publishes what they hold (`playlist-file.changed`, `.removed`); here each
 * file is one playlist, kept equal to it: owned by the library's owner, or the first
 * administrator (the users service says who: `users.playlistOwner`), its tracks replaced by
 * each new version, removed with the file. Events carry a version that only grows: one older
 * than the newest applied for its file is passed over, so a late retry changes nothing.
 */

export interface PlaylistFileDeps {
  pool: Pool;
  users: ServiceClient<UsersContract>;
}

export function playlistFileSubscribers({ pool, users }: PlaylistFileDeps) {
  /** Locks the file's row (made at version 0 the first time) and says whether `version` is newer. */
  async function claim(
    tx: PoolClient,
    libraryId: number,
    path: string,
    version: number,
  ): Promise<{ newer: boolean; playlistId: string | null }> {
    await tx.query(
      'INSERT INTO playlist_files (library_id, path, version) VALUES ($1, $2, 0) ON CONFLICT DO NOTHING',
      [libraryId, path],
    );
    const { rows } = await tx.query<{ version: string; playlist_id: string | null }>(
      'SELECT version, playlist_id FROM playlist_files WHERE library_id = $1 AND path = $2 FOR UPDATE',
      [libraryId, path],
    );
    return { newer: Number(rows[0]!.version) < version, playlistId: rows[0]!.playlist_id };
  }

  async function changed(d: PlaylistFileChanged): Promise<void> {
    const { rows: applied } = await pool.query<{ version: string }>(
      'SELECT version FROM playlist_files WHERE library_id = $1 AND path = $2',
      [d.libraryId, d.path],
    );
    if (applied[0] && Number(applied[0].version) >= d.version) return;
    const owner = await users.call('playlistOwner', d.ownerId ? { userId: d.ownerId } : {});
    // Retried with back-off: a fresh install has its administrator once its first user registers.
    if (!owner) throw new UnavailableError('no administrator yet to own the playlists of playlist files');
    await withTransaction(pool, async (tx) => {
      const { newer, playlistId } = await claim(tx, d.libraryId, d.path, d.version);
      if (!newer) return;
      const file: PlaylistFileSource = {
        libraryId: d.libraryId,
        path: d.path,
        missing: d.missing,
        missingCount: d.missingCount,
        ...(d.error ? { error: d.error } : {}),
      };
      let row = playlistId ? await findPlaylist(tx, playlistId, true) : null;
      const change = row ? 'tracks' : 'created';
      if (row) {
        await tx.query(
          `UPDATE playlists SET name = $2, owner_id = $3, owner_name = $4, file = $5 WHERE id = $1`,
          [row.id, d.name, owner.userId, owner.username, JSON.stringify(file)],
        );
      } else {
        row = await insertPlaylist(tx, {
          ownerId: owner.userId,
          ownerName: owner.username,
          name: d.name,
          public: false,
          file,
        });
      }
      // A refused version keeps the tracks of the one before.
      if (!d.error) {
        await tx.query('DELETE FROM playlist_tracks WHERE playlist_id = $1', [row.id]);
        const entries = d.trackIds.map((trackId, i) => ({ trackId, durationMs: d.durationsMs[i] ?? 0 }));
        if (entries.length > 0) await insertEntries(tx, row.id, 0, entries);
      }
      const updated = await refreshTotals(tx, row.id);
      await tx.query(
        'UPDATE playlist_files SET version = $3, playlist_id = $4 WHERE library_id = $1 AND path = $2',
        [d.libraryId, d.path, d.version, row.id],
      );
      await enqueueEvent(tx, Events.playlistChanged, {
        playlistId: updated.id,
        ownerId: updated.owner_id,
        change,
        trackCount: updated.track_count,
      });
    });
  }

  async function removed(d: PlaylistFileRemoved): Promise<void> {
    await withTransaction(pool, async (tx) => {
      const { newer, playlistId } = await claim(tx, d.libraryId, d.path, d.version);
      if (!newer) return;
      await tx.query(
        'UPDATE playlist_files SET version = $3, playlist_id = NULL WHERE library_id = $1 AND path = $2',
        [d.libraryId, d.path, d.version],
      );
      const row = playlistId ? await findPlaylist(tx, playlistId, true) : null;
      if (!row) return;
      await deletePlaylist(tx, row.id);
      await enqueueEvent(tx, Events.playlistChanged, {
        playlistId: row.id,
        ownerId: row.owner_id,
        change: 'deleted',
      });
    });
  }

  return {
    playlistFiles: async (events: EventEnvelope<PlaylistFileChanged>[]) => {
      for (const { data } of events) await changed(data);
    },
    playlistFilesRemoved: async (events: EventEnvelope<PlaylistFileRemoved>[]) => {
      for (const { data } of events) await removed(data);
    },
  };
}

/** Refuses a change the file decides (its name, its tracks, its existence). */
export function refuseFileChange(row: PlaylistRow, what: string): void {
  if (row.file) {
    throw new ForbiddenError(
      `"${row.name}" is made from the playlist file ${row.file.path}: its ${what} follow the file; edit or delete the file instead`,
      { id: row.id, file: row.file.path },
    );
  }
}

/** The ids of the libraries a reader sees (none logged in: an anonymous client). */
export async function visibleLibraries(
  catalog: ServiceClient<CatalogContract>,
  reader: Caller | undefined,
): Promise<Set<number>> {
  const libraries = await fromCatalog(
    catalog.call('listLibraries', {}, reader ? { caller: reader } : { clientAddress: 'anonymous' }),
  );
  return new Set(libraries.map((l) => l.id));
}

/**
 * A file playlist is read only by those who see its library: anyone else is told it does not
 * exist, as for a private playlist of someone else.
 */
export async function requireLibrary(
  catalog: ServiceClient<CatalogContract>,
  row: PlaylistRow,
  reader: Caller | undefined,
): Promise<PlaylistRow> {
  if (row.file && !(await visibleLibraries(catalog, reader)).has(row.file.libraryId)) {
    throw new NotFoundError(`no playlist ${row.id}`);
  }
  return row;
}

/** A name fit for a file on any system. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is replaced
const fileNameOf = (name: string) => `${name.replace(/[/\\:*?"<>|\u0000-\u001f]/g, '_').slice(0, 100)}.m3u8`;
/** One line of an M3U file: no line breaks inside. */
const oneLine = (text: string) => text.replace(/[\r\n]+/g, ' ');

/**
 * The playlist as an extended M3U file: `#EXTM3U`, `#PLAYLIST:<name>`, and for each track the
 * caller sees `#EXTINF:<seconds>,<artist> - <title>` and its path relative to its library's
 * folder (the server's own folders are not shown to anyone, and a file saved in the library's
 * folder reads back as the same tracks). Tracks gone from the catalog are left out.
 */
export async function exportM3u(
  catalog: ServiceClient<CatalogContract>,
  row: PlaylistRow,
  trackIds: readonly string[],
  lookup: TrackLookup,
): Promise<PlaylistExport> {
  await lookup.load(trackIds);
  const seen = trackIds.filter((id) => {
    const track = lookup.get(id);
    return track && !track.unavailable;
  });
  const distinct = [...new Set(seen)];
  const paths = new Map<string, string>();
  for (let i = 0; i < distinct.length; i += MAX_IDS) {
    const batch = await fromCatalog(catalog.call('trackPaths', { ids: distinct.slice(i, i + MAX_IDS) }));
    for (const p of batch) paths.set(p.id, p.path);
  }
  const lines = ['#EXTM3U', `#PLAYLIST:${oneLine(row.name)}`];
  let written = 0;
  for (const id of seen) {
    const track = lookup.get(id)!;
    const path = paths.get(id);
    if (!path) continue;
    lines.push(
      `#EXTINF:${Math.round(track.durationMs / 1000)},${oneLine(`${track.artistName} - ${track.title}`)}`,
      oneLine(path),
    );
    written++;
  }
  return {
    fileName: fileNameOf(row.name),
    text: `${lines.join('\n')}\n`,
    trackCount: written,
    leftOut: trackIds.length - written,
  };
}
