import type { CatalogContract } from '../../common/contracts/catalog.js';
import { EventTypes, type PlaylistChanged } from '../../common/contracts/events.js';
import {
  PLAYLIST_MAX_TRACKS,
  type PlaylistDetail,
  type PlaylistsContract,
  playlistsContract,
} from '../../common/contracts/playlists.js';
import { enqueueEvent } from '../../common/db/outbox.js';
import { type Pool, type PoolClient, withTransaction } from '../../common/db/pool.js';
import { ForbiddenError, InvalidInputError, NotFoundError, UnauthorizedError } from '../../common/errors.js';
import type { ServiceClient } from '../../common/rpc/client.js';
import type { Caller, Handlers, ParsedParamsOf } from '../../common/rpc/contract.js';
import { shareHandlers } from './shares.js';
import {
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
  return enqueueEvent<PlaylistChanged>(client, EventTypes.PLAYLIST_CHANGED, {
    playlistId: row.id,
    ownerId: row.owner_id,
    change,
    ...(change === 'deleted' ? {} : { trackCount: row.track_count }),
  });
}

export function playlistsHandlers({ pool, catalog }: PlaylistsHandlerOptions): Handlers<PlaylistsContract> {
  /**
   * Entries with their catalog details, in their stored positions. A track whose file left the
   * library is shown as it was, marked `unavailable`; an id the catalog never had (none is
   * ever added) is left out, the other entries keeping their positions.
   */
  async function detail(
    row: PlaylistRow,
    entries: EntryRow[],
    lookup: TrackLookup,
    page: { offset: number; limit: number },
  ): Promise<PlaylistDetail> {
    await lookup.load(entries.map((e) => e.track_id));
    const tracks = entries.flatMap((e) => {
      const track = lookup.get(e.track_id);
      return track ? [{ position: e.position, track }] : [];
    });
    return { ...toPlaylist(row), tracks, offset: page.offset, limit: page.limit };
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
    writable(await findPlaylist(pool, id), caller, id);
    const lookup = new TrackLookup(catalog);
    // The answer's page, as it is now and as far as removals may pull entries into it.
    const page = await listEntries(pool, id, { offset: 0, limit: FIRST_PAGE.limit + removed });
    await lookup.load([...page.map((e) => e.track_id), ...newTrackIds]);
    lookup.requireKnown(newTrackIds);
    const { row, entries } = await withTransaction(pool, async (client) => {
      const locked = writable(await findPlaylist(client, id, true), caller, id);
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
  function editFields(id: string, caller: Caller, fields: { name?: string; public?: boolean }) {
    return withTransaction(pool, async (client) => {
      writable(await findPlaylist(client, id, true), caller, id);
      const updated = await updatePlaylist(client, id, fields);
      await changed(client, updated, fields.name !== undefined ? 'renamed' : 'visibility');
      return toPlaylist(updated);
    });
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
      const lookup = new TrackLookup(catalog);
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

    async list({ ownerId }, { caller }) {
      const owner = ownerId ?? caller?.userId;
      if (owner === undefined) throw new UnauthorizedError('log in to list your playlists, or give ownerId');
      const rows = await listPlaylists(pool, owner, owner !== caller?.userId);
      return rows.map(toPlaylist);
    },

    async get({ id, offset, limit }, { caller }) {
      const row = readable(await findPlaylist(pool, id), caller, id);
      const page = { offset, limit };
      return detail(row, await listEntries(pool, id, page), new TrackLookup(catalog), page);
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

    async moveTrack({ id, from, to }, ctx) {
      return editTracks(id, ctx.caller, [], async (client, row) => {
        checkPosition(from, row.track_count, 'from');
        checkPosition(to, row.track_count, 'to');
        await moveEntry(client, id, from, to);
      });
    },
  };
}
