import { type PlaylistDetail, playlistsContract } from '../../../common/contracts/index.js';
import type { Call, Deps, Endpoint } from '../context.js';
import { playlist, song } from '../models.js';
import { type Body, missing, SubsonicCodes, SubsonicError } from '../response.js';

/**
 * Most entries `getPlaylist` shows (the API has no paging): the playlist's first ones. Its
 * `songCount` still counts them all, and `updatePlaylist`'s `songIndexToRemove` indexes this list.
 */
export const SUBSONIC_PLAYLIST_ENTRIES = 1000;

/** The contract's largest page: the shown entries are read in as few pages as that takes. */
const PAGE = playlistsContract.methods.get.params.shape.limit.unwrap().maxValue ?? 100;

/** A playlist with its first SUBSONIC_PLAYLIST_ENTRIES entries. */
async function readPlaylist(call: Call, deps: Deps, id: string): Promise<PlaylistDetail> {
  const first = await deps.services.playlists.call('get', { id, limit: PAGE }, call.as);
  const tracks = [...first.tracks];
  for (let offset = PAGE; offset < Math.min(first.trackCount, SUBSONIC_PLAYLIST_ENTRIES); offset += PAGE) {
    const limit = Math.min(PAGE, SUBSONIC_PLAYLIST_ENTRIES - offset);
    tracks.push(...(await deps.services.playlists.call('get', { id, offset, limit }, call.as)).tracks);
  }
  return { ...first, tracks: tracks.slice(0, SUBSONIC_PLAYLIST_ENTRIES), limit: SUBSONIC_PLAYLIST_ENTRIES };
}

/**
 * The entries a player is shown: those whose files are in the library. Subsonic has no way to
 * say a song is unavailable, and a player would try to play it; the playlist keeps the others
 * (REST and the web player show them), and song indexes count the shown ones only.
 */
const shown = (detail: PlaylistDetail) => detail.tracks.filter((e) => !e.track.unavailable);

async function withSongs(detail: PlaylistDetail, call: Call): Promise<Body> {
  const marks = await call.marks();
  return { ...playlist(detail), entry: shown(detail).map((e) => song(e.track, marks)) };
}

export const playlistEndpoints: Record<string, Endpoint> = {
  /** The caller's playlists, or with `username` that user's public ones. */
  getPlaylists: async (call, deps) => {
    const username = call.params.string('username');
    const { playlists, users } = deps.services;
    let ownerId: string | undefined;
    if (username && username.toLowerCase() !== call.caller.username.toLowerCase()) {
      ownerId = (await users.call('getProfile', { username }, call.as)).id;
    }
    const list = await playlists.call('list', ownerId ? { ownerId } : {}, call.as);
    return { playlists: { playlist: list.map(playlist) } };
  },

  getPlaylist: async (call, deps) => {
    const id = call.params.required('id');
    return { playlist: await withSongs(await readPlaylist(call, deps, id), call) };
  },

  /**
   * A new playlist with `name`, or with `playlistId` that playlist's songs replaced (and its
   * name too, when given). Answers the playlist, as OpenSubsonic servers do.
   */
  createPlaylist: async (call, deps) => {
    const { params, as } = call;
    const { playlists } = deps.services;
    const playlistId = params.string('playlistId');
    const name = params.string('name');
    const songIds = params.list('songId');
    if (!playlistId) {
      if (!name) throw missing('name (or playlistId)');
      const created = await playlists.call('create', { name, trackIds: songIds }, as);
      return { playlist: await withSongs(await readPlaylist(call, deps, created.id), call) };
    }
    // The owner, the songs and the name are checked by the service: all of it changes, or none.
    await playlists.call('update', { id: playlistId, name, trackIds: songIds }, as);
    return { playlist: await withSongs(await readPlaylist(call, deps, playlistId), call) };
  },

  /**
   * Renames, changes visibility, removes the songs at `songIndexToRemove` (indexes into the
   * list getPlaylist shows) and appends `songIdToAdd`: one change of the service, all or none.
   */
  updatePlaylist: async (call, deps) => {
    const { params, as } = call;
    const { playlists } = deps.services;
    const id = params.required('playlistId');
    const name = params.string('name');
    const isPublic = params.bool('public');
    const removeAt = params.ints('songIndexToRemove', 0, 100_000);
    const add = params.list('songIdToAdd');
    const entries = shown(await readPlaylist(call, deps, id));
    const positions = [...new Set(removeAt)].map((index) => {
      const entry = entries[index];
      if (!entry) {
        throw new SubsonicError(
          SubsonicCodes.GENERIC,
          `songIndexToRemove ${index} is out of range: the playlist shows ${entries.length} songs`,
        );
      }
      return entry.position;
    });
    if (name === undefined && isPublic === undefined && positions.length === 0 && add.length === 0) return {};
    await playlists.call(
      'update',
      { id, name, public: isPublic, removePositions: positions, addTrackIds: add },
      as,
    );
    return {};
  },

  deletePlaylist: async (call, deps) => {
    await deps.services.playlists.call('delete', { id: call.params.required('id') }, call.as);
    return {};
  },
};
