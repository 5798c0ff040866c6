import { type PlaylistDetail, playlistsContract } from '../../../common/contracts/playlists.js';
import { type Call, type Deps, type Endpoint, requireTracks } from '../context.js';
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
 * A playlist about to be changed: someone else's (public) one is refused before any part of
 * the change is made.
 */
async function ownPlaylist(call: Call, deps: Deps, id: string): Promise<PlaylistDetail> {
  const detail = await readPlaylist(call, deps, id);
  if (detail.ownerId !== call.caller.userId) {
    throw new SubsonicError(SubsonicCodes.NOT_AUTHORIZED, 'only its owner may change this playlist');
  }
  return detail;
}

async function rename(
  call: Call,
  deps: Deps,
  current: PlaylistDetail,
  name: string | undefined,
): Promise<void> {
  if (name && name !== current.name) {
    await deps.services.playlists.call('rename', { id: current.id, name }, call.as);
  }
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
    const current = await ownPlaylist(call, deps, playlistId);
    // Unknown songs fail here, before anything changes; the replacement itself is one step.
    await requireTracks(deps, songIds);
    await rename(call, deps, current, name);
    await playlists.call('replaceTracks', { id: playlistId, trackIds: songIds }, as);
    return { playlist: await withSongs(await readPlaylist(call, deps, playlistId), call) };
  },

  /**
   * Renames, changes visibility, removes the songs at `songIndexToRemove` (indexes into the
   * list getPlaylist shows) and appends `songIdToAdd`, in that order.
   */
  updatePlaylist: async (call, deps) => {
    const { params, as } = call;
    const { playlists } = deps.services;
    const id = params.required('playlistId');
    const name = params.string('name');
    const isPublic = params.bool('public');
    const removeAt = params.ints('songIndexToRemove', 0, 100_000);
    const add = params.list('songIdToAdd');
    const current = await ownPlaylist(call, deps, id);
    const entries = shown(current);
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
    await rename(call, deps, current, name);
    if (isPublic !== undefined && isPublic !== current.public) {
      await playlists.call('setPublic', { id, public: isPublic }, as);
    }
    if (positions.length > 0) await playlists.call('removeTracks', { id, positions }, as);
    if (add.length > 0) await playlists.call('addTracks', { id, trackIds: add }, as);
    return {};
  },

  deletePlaylist: async (call, deps) => {
    await deps.services.playlists.call('delete', { id: call.params.required('id') }, call.as);
    return {};
  },
};
