import {
  type CatalogContract,
  Events,
  PLAYLIST_MAX_TRACKS,
  type Playlist,
  type PlaylistChanged,
  type PlaylistDetail,
  type PlaylistsContract,
  playlistsContract,
  SMART_PLAYLISTS_MAX,
  type SmartRules,
  smartRules,
  type UsersContract,
} from '../../common/contracts/index.js';
import {
  type Caller,
  describeIssues,
  enqueueEvent,
  ForbiddenError,
  type Handlers,
  InvalidInputError,
  NotFoundError,
  type ParsedParamsOf,
  type Pool,
  type PoolClient,
  type ServiceClient,
  UnauthorizedError,
  withTransaction,
} from '../../common/index.js';
import { exportM3u, refuseFileChange, requireLibrary, visibleLibraries } from './files.js';
import { fromNsp } from './nsp.js';
import { shareHandlers } from './shares.js';
import { SmartEvaluator } from './smart.js';
import {
  countSmart,
  deletePlaylist,
  type EntryRow,
  findPlaylist,
  insertEntries,
  insertPlaylist,
  listEntries,
  listPlaylists,
  moveEntry,
  type PlaylistRow,
  refreshTotals,
  removeEntries,
  toPlaylist,
  updatePlaylist,
} from './store.js';
import { TrackLookup } from './tracks.js';

/** The page a change answers with: the playlist's first entries, as `get` gives by default. */
const FIRST_PAGE = playlistsContract.methods.get.params.parse({ id: 'x' }) as {
  offset: number;
  limit: number;
};

type UpdateParams = ParsedParamsOf<PlaylistsContract, 'update'>;

export interface PlaylistsHandlerOptions {
  pool: Pool;
  catalog: ServiceClient<CatalogContract>;
  /** Ratings and stars, which smart playlists' rules may read. */
  users: ServiceClient<UsersContract>;
}

/**
 * A private playlist of someone else (or of anyone, for a caller not logged in) answers exactly
 * like a missing one, so its existence does not leak.
 */
function readable(row: PlaylistRow | null, caller: Caller | undefined, id: string): PlaylistRow {
  if (!row || (!row.public && row.owner_id !== caller?.userId)) throw new NotFoundError(`no playlist ${id}`);
  return row;
}

function writable(row: PlaylistRow | null, caller: Caller, id: string): PlaylistRow {
  const visible = readable(row, caller, id);
  if (visible.owner_id !== caller.userId) throw new ForbiddenError('only its owner may change this playlist');
  return visible;
}

/** A playlist whose entries may be changed one by one: an ordinary one (a smart one follows its rules). */
function editable(row: PlaylistRow | null, caller: Caller, id: string): PlaylistRow {
  const mine = writable(row, caller, id);
  refuseFileChange(mine, 'tracks');
  if (mine.rules) {
    throw new ForbiddenError(
      `"${mine.name}" is a smart playlist: its tracks follow its rules and cannot be added, removed or moved; change its rules instead`,
      { id },
    );
  }
  return mine;
}

/** Positions address existing entries; with `end`, also the slot just past the last one. */
function checkPosition(position: number, count: number, what: string, end = false): void {
  if (position > count || (position === count && !end)) {
    throw new InvalidInputError(`${what} ${position} is out of range: the playlist has ${count} tracks`, {
      position,
      trackCount: count,
    });
  }
}

function changed(client: PoolClient, row: PlaylistRow, change: PlaylistChanged['change']) {
  return enqueueEvent(client, Events.playlistChanged, {
    playlistId: row.id,
    ownerId: row.owner_id,
    change,
    ...(change === 'deleted' ? {} : { trackCount: row.track_count }),
  });
}

export function playlistsHandlers({
  pool,
  catalog,
  users,
}: PlaylistsHandlerOptions): Handlers<PlaylistsContract> {
  const smart = new SmartEvaluator(pool, catalog, users);

  /** A smart playlist's tracks now: all of them (at most its rules' limit). */
  const smartTracks = (row: PlaylistRow & { rules: SmartRules }) => smart.tracks(row, row.rules);

  /** The playlist as listed: a smart one with the count and duration of what its rules pick now. */
  async function summary(row: PlaylistRow): Promise<Playlist> {
    if (!row.rules) return toPlaylist(row);
    const tracks = await smartTracks({ ...row, rules: row.rules });
    return {
      ...toPlaylist(row),
      trackCount: tracks.length,
      durationMs: tracks.reduce((sum, t) => sum + t.durationMs, 0),
    };
  }

  /**
   * Entries with their catalog details, in their stored positions. A track whose file left the
   * library is shown as it was, marked `unavailable`; an id the catalog never had (none is
   * ever added) is left out, the other entries keeping their positions.
   */
  async function detail(
    row: PlaylistRow,
    stored: EntryRow[],
    lookup: TrackLookup,
    page: { offset: number; limit: number },
  ): Promise<PlaylistDetail> {
    if (row.rules) return smartDetail({ ...row, rules: row.rules }, lookup, page);
    return entriesDetail(toPlaylist(row), stored, lookup, page);
  }

  /** A smart playlist with one page of what its rules pick now. */
  async function smartDetail(
    row: PlaylistRow & { rules: SmartRules },
    lookup: TrackLookup,
    page: { offset: number; limit: number },
  ): Promise<PlaylistDetail> {
    const tracks = await smartTracks(row);
    const entries = tracks
      .slice(page.offset, page.offset + page.limit)
      .map((t, i) => ({ position: page.offset + i, track_id: t.id }));
    const playlist = {
      ...toPlaylist(row),
      trackCount: tracks.length,
      durationMs: tracks.reduce((sum, t) => sum + t.durationMs, 0),
    };
    return entriesDetail(playlist, entries, lookup, page);
  }

  async function entriesDetail(
    playlist: Playlist,
    entries: EntryRow[],
    lookup: TrackLookup,
    page: { offset: number; limit: number },
  ): Promise<PlaylistDetail> {
    await lookup.load(entries.map((e) => e.track_id));
    const tracks = entries.flatMap((e) => {
      const track = lookup.get(e.track_id);
      return track ? [{ position: e.position, track }] : [];
    });
    return { ...playlist, tracks, offset: page.offset, limit: page.limit };
  }

  /**
   * Runs one change to a playlist's entries. The catalog is asked first, outside the
   * transaction (for the new tracks and those of the page the answer shows, in one go), so an unknown track or
   * an unavailable catalog fails before anything changes, and no row lock is held across an
   * RPC. The transaction then locks the playlist row, so concurrent edits from any worker
   * apply one after another, re-checks ownership, edits, and records the event.
   */
  async function editTracks(
    id: string,
    caller: Caller,
    newTrackIds: readonly string[],
    edit: (client: PoolClient, row: PlaylistRow, lookup: TrackLookup) => Promise<void>,
    removed = 0,
    tracksChanged = true,
  ): Promise<PlaylistDetail> {
    // A change of name or visibility only is a change any playlist of the caller's may take.
    const check = tracksChanged ? editable : writable;
    check(await findPlaylist(pool, id), caller, id);
    const lookup = new TrackLookup(catalog, caller);
    // The answer's page, as it is now and as far as removals may pull entries into it.
    const page = await listEntries(pool, id, { offset: 0, limit: FIRST_PAGE.limit + removed });
    await lookup.load([...page.map((e) => e.track_id), ...newTrackIds]);
    lookup.requireKnown(newTrackIds);
    const { row, entries } = await withTransaction(pool, async (client) => {
      const locked = check(await findPlaylist(client, id, true), caller, id);
      await edit(client, locked, lookup);
      const updated = await refreshTotals(client, id);
      if (tracksChanged) await changed(client, updated, 'tracks');
      return { row: updated, entries: await listEntries(client, id, FIRST_PAGE) };
    });
    return detail(row, entries, lookup, FIRST_PAGE);
  }

  /** Refuses a change that would leave more than PLAYLIST_MAX_TRACKS entries. */
  function checkRoom(row: PlaylistRow, count: number): void {
    if (count > PLAYLIST_MAX_TRACKS) {
      throw new InvalidInputError(`a playlist holds at most ${PLAYLIST_MAX_TRACKS} tracks`, {
        trackCount: row.track_count,
      });
    }
  }

  /** Removes the entries at `positions`, all or none (any out of range is refused). */
  function removeAt(id: string, caller: Caller, positions: readonly number[]) {
    return editTracks(
      id,
      caller,
      [],
      async (client, row) => {
        for (const position of positions) checkPosition(position, row.track_count, 'position');
        await removeEntries(client, id, positions);
      },
      positions.length,
    );
  }

  /** Changes a playlist's own fields (name, visibility) under the row lock. */
  async function editFields(id: string, caller: Caller, fields: { name?: string; public?: boolean }) {
    const updated = await withTransaction(pool, async (client) => {
      const mine = writable(await findPlaylist(client, id, true), caller, id);
      if (fields.name !== undefined) refuseFileChange(mine, 'name and tracks');
      const row = await updatePlaylist(client, id, fields);
      await changed(client, row, fields.name !== undefined ? 'renamed' : 'visibility');
      return row;
    });
    return summary(updated);
  }

  /**
   * Makes a smart playlist. The rules run once before anything is stored, so rules the catalog
   * cannot run, or a catalog that does not answer, fail the call rather than leave a playlist.
   */
  async function createSmart(caller: Caller, fields: { name: string; public: boolean; rules: SmartRules }) {
    if ((await countSmart(pool, caller.userId)) >= SMART_PLAYLISTS_MAX) {
      throw new InvalidInputError(`a user has at most ${SMART_PLAYLISTS_MAX} smart playlists`);
    }
    await smart.tracks({ id: 'new', owner_id: caller.userId, updated_at: new Date() }, fields.rules);
    const row = await withTransaction(pool, async (client) => {
      const created = await insertPlaylist(client, {
        ownerId: caller.userId,
        ownerName: caller.username,
        ...fields,
      });
      await changed(client, created, 'created');
      return created;
    });
    return detail(row, [], new TrackLookup(catalog, caller), FIRST_PAGE);
  }

  const newEntries = (trackIds: readonly string[], lookup: TrackLookup) =>
    trackIds.map((trackId) => ({ trackId, durationMs: lookup.get(trackId)?.durationMs ?? 0 }));

  /** Name, visibility and entries changed in one transaction (see the contract's `update`). */
  async function update(
    { id, name, public: isPublic, trackIds, removePositions = [], addTrackIds = [] }: UpdateParams,
    caller: Caller,
  ): Promise<PlaylistDetail> {
    const removals = [...new Set(removePositions)];
    const added = trackIds ?? addTrackIds;
    const entriesChange = trackIds !== undefined || removals.length > 0 || addTrackIds.length > 0;
    return editTracks(
      id,
      caller,
      added,
      async (client, row, lookup) => {
        for (const p of removals) checkPosition(p, row.track_count, 'position');
        const kept = trackIds ? 0 : row.track_count - removals.length;
        checkRoom(row, kept + added.length);
        const renamed = name !== undefined && name !== row.name;
        if (renamed) refuseFileChange(row, 'name and tracks');
        const visibility = isPublic !== undefined && isPublic !== row.public;
        if (renamed || visibility) {
          const updated = await updatePlaylist(client, id, { name, public: isPublic });
          if (renamed) await changed(client, updated, 'renamed');
          if (visibility) await changed(client, updated, 'visibility');
        }
        if (trackIds) await client.query('DELETE FROM playlist_tracks WHERE playlist_id = $1', [id]);
        if (removals.length > 0) await removeEntries(client, id, removals);
        if (added.length > 0) await insertEntries(client, id, kept, newEntries(added, lookup));
      },
      removals.length,
      entriesChange,
    );
  }

  return {
    ...shareHandlers({ pool, catalog }),

    async create(params, { caller }) {
      const trackIds = params.trackIds ?? [];
      const lookup = new TrackLookup(catalog, caller);
      await lookup.load(trackIds);
      lookup.requireKnown(trackIds);
      const { row, entries } = await withTransaction(pool, async (client) => {
        const created = await insertPlaylist(client, {
          ownerId: caller.userId,
          ownerName: caller.username,
          name: params.name,
          public: params.public,
        });
        if (trackIds.length > 0) await insertEntries(client, created.id, 0, newEntries(trackIds, lookup));
        const updated = await refreshTotals(client, created.id);
        await changed(client, updated, 'created');
        return { row: updated, entries: await listEntries(client, created.id, FIRST_PAGE) };
      });
      return detail(row, entries, lookup, FIRST_PAGE);
    },

    createSmart: (params, { caller }) => createSmart(caller, params),

    async setRules({ id, rules }, { caller }) {
      const row = writable(await findPlaylist(pool, id), caller, id);
      if (!row.rules) {
        throw new InvalidInputError(
          `"${row.name}" is not a smart playlist: its tracks are chosen one by one`,
          { id },
        );
      }
      await smart.tracks({ ...row, updated_at: new Date() }, rules);
      const updated = await withTransaction(pool, async (client) => {
        writable(await findPlaylist(client, id, true), caller, id);
        const saved = await updatePlaylist(client, id, { rules });
        await changed(client, saved, 'tracks');
        return saved;
      });
      return detail(updated, [], new TrackLookup(catalog, caller), FIRST_PAGE);
    },

    async importNsp({ nsp, name, public: isPublic }, { caller }) {
      const file = fromNsp(nsp);
      const parsed = smartRules.safeParse(file.rules);
      if (!parsed.success) {
        throw new InvalidInputError(
          `the .nsp file's rules are not acceptable: ${describeIssues(parsed.error, 'rules')}`,
        );
      }
      const playlistName = name ?? file.name;
      if (!playlistName) throw new InvalidInputError('the .nsp file has no name: give one');
      return createSmart(caller, { name: playlistName, public: isPublic, rules: parsed.data });
    },

    async list({ ownerId }, { caller }) {
      const owner = ownerId ?? caller?.userId;
      if (owner === undefined) throw new UnauthorizedError('log in to list your playlists, or give ownerId');
      let rows = await listPlaylists(pool, owner, owner !== caller?.userId);
      // File playlists of libraries the caller does not see are not listed.
      if (rows.some((r) => r.file)) {
        const seen = await visibleLibraries(catalog, caller);
        rows = rows.filter((r) => !r.file || seen.has(r.file.libraryId));
      }
      return Promise.all(rows.map(summary));
    },

    async get({ id, offset, limit }, { caller }) {
      const row = await requireLibrary(catalog, readable(await findPlaylist(pool, id), caller, id), caller);
      const page = { offset, limit };
      return detail(row, await listEntries(pool, id, page), new TrackLookup(catalog, caller), page);
    },

    async rename({ id, name }, ctx) {
      return editFields(id, ctx.caller, { name });
    },

    async setPublic({ id, public: isPublic }, ctx) {
      return editFields(id, ctx.caller, { public: isPublic });
    },

    async delete({ id }, ctx) {
      const caller = ctx.caller;
      await withTransaction(pool, async (client) => {
        const row = writable(await findPlaylist(client, id, true), caller, id);
        refuseFileChange(row, 'name, tracks and existence');
        await deletePlaylist(client, id);
        await changed(client, row, 'deleted');
      });
      return { deleted: true };
    },

    async addTracks({ id, trackIds, position }, ctx) {
      return editTracks(id, ctx.caller, trackIds, async (client, row, lookup) => {
        const at = position ?? row.track_count;
        checkPosition(at, row.track_count, 'position', true);
        checkRoom(row, row.track_count + trackIds.length);
        await insertEntries(client, id, at, newEntries(trackIds, lookup));
      });
    },

    async replaceTracks({ id, trackIds }, ctx) {
      return update({ id, trackIds }, ctx.caller);
    },

    async removeTrack({ id, position }, ctx) {
      return removeAt(id, ctx.caller, [position]);
    },

    async removeTracks({ id, positions }, ctx) {
      return removeAt(id, ctx.caller, positions);
    },

    update: (params, ctx) => update(params, ctx.caller),

    async exportM3u({ id }, { caller }) {
      const row = await requireLibrary(catalog, readable(await findPlaylist(pool, id), caller, id), caller);
      const trackIds = row.rules
        ? (await smartTracks({ ...row, rules: row.rules })).map((t) => t.id)
        : (await listEntries(pool, id, { offset: 0, limit: PLAYLIST_MAX_TRACKS })).map((e) => e.track_id);
      return exportM3u(catalog, row, trackIds, new TrackLookup(catalog, caller));
    },

    async moveTrack({ id, from, to }, ctx) {
      return editTracks(id, ctx.caller, [], async (client, row) => {
        checkPosition(from, row.track_count, 'from');
        checkPosition(to, row.track_count, 'to');
        await moveEntry(client, id, from, to);
      });
    },
  };
}
