import {
  Events,
  MAX_PLAYS_PER_REQUEST,
  makePlay,
  playEventId,
  playedAtProblem,
} from '../../../common/contracts/index.js';
import { withTimeout } from '../../../common/index.js';
import {
  albumsByIds,
  artistsByIds,
  type Call,
  type Deps,
  type Endpoint,
  requireTracks,
  tracksByIds,
} from '../context.js';
import { missing, SubsonicCodes, SubsonicError } from '../response.js';

const notFound = (ids: string[]) =>
  new SubsonicError(SubsonicCodes.NOT_FOUND, `unknown id${ids.length > 1 ? 's' : ''}: ${ids.join(', ')}`);

/**
 * scrobble: with submission (the default) each `id` was played, at `time` (ms since the epoch)
 * or now, and becomes a `track.played` event; without, it is what the player is playing now.
 * Every id is checked before anything is published, and the answer waits for the broker's
 * confirmations, so an answered scrobble is never lost.
 */
async function scrobble(call: Call, deps: Deps) {
  const { params, caller } = call;
  const ids = params.requiredList('id', MAX_PLAYS_PER_REQUEST);
  const times = params.ints('time', 0, Number.MAX_SAFE_INTEGER);
  const submission = params.bool('submission') ?? true;
  if (submission) deps.plays.take(caller.userId, ids.length);
  const tracks = await requireTracks(deps, ids);
  if (!submission) {
    const trackId = ids[ids.length - 1]!;
    await deps.services.users.call(
      'reportPlayback',
      { trackId, state: 'playing', positionMs: 0, ignoreScrobble: true, client: call.client },
      call.as,
    );
    return {};
  }
  // Without a time the play is now, to the second: a retry within it is still the same play.
  const now = Math.floor(Date.now() / 1000) * 1000;
  const plays = ids.map((trackId, i) => {
    const at = times[i] ?? now;
    const problem = playedAtProblem('time', new Date(at), deps.playDates);
    if (problem) throw new SubsonicError(SubsonicCodes.GENERIC, problem);
    // The API does not say how much was heard: a scrobble means the song was played.
    const play = makePlay({
      userId: caller.userId,
      trackId,
      playedAt: new Date(at),
      durationMs: tracks.get(trackId)!.durationMs,
      source: 'subsonic',
    });
    // The same user, track and time is the same play, however often a player sends it.
    return { play, id: playEventId(caller.userId, `subsonic:${trackId}:${at}`) };
  });
  await withTimeout(
    Promise.all(plays.map(({ play, id }) => deps.publisher.publish(Events.trackPlayed, play, id))),
    deps.publishTimeoutMs,
    'the broker confirming the plays',
  );
  return {};
}

/** star's `id` may name a song or, from folder-based players, an album or artist folder. */
async function classify(deps: Deps, call: Call) {
  const { params } = call;
  const ids = params.list('id');
  const albumIds = params.list('albumId');
  const artistIds = params.list('artistId');
  if (ids.length + albumIds.length + artistIds.length === 0) throw missing('id, albumId or artistId');
  const idsOf = async <T extends { id: string }>(found: Promise<T[]>) =>
    new Set((await found).map((x) => x.id));
  // One catalog call per kind, whatever the number of ids.
  const [songs, albums, artists] = await Promise.all([
    idsOf(tracksByIds(deps, ids)),
    idsOf(albumsByIds(deps, [...ids, ...albumIds])),
    idsOf(artistsByIds(deps, [...ids, ...artistIds])),
  ]);
  const folders = ids.filter((id) => !songs.has(id));
  const unknown = [
    ...folders.filter((id) => !albums.has(id) && !artists.has(id)),
    ...albumIds.filter((id) => !albums.has(id)),
    ...artistIds.filter((id) => !artists.has(id)),
  ];
  if (unknown.length > 0) throw notFound(unknown);
  return {
    songIds: ids.filter((id) => songs.has(id)),
    albumIds: [...albumIds, ...folders.filter((id) => albums.has(id))],
    artistIds: [...artistIds, ...folders.filter((id) => !albums.has(id))],
  };
}

export const annotationEndpoints: Record<string, Endpoint> = {
  scrobble,

  star: async (call, deps) => {
    await deps.services.users.call('star', await classify(deps, call), call.as);
    return {};
  },

  /** Unstarring needs no lookup: an `id` is unstarred whatever kind it is. */
  unstar: async (call, deps) => {
    const { params } = call;
    const ids = params.list('id');
    const albumIds = params.list('albumId');
    const artistIds = params.list('artistId');
    if (ids.length + albumIds.length + artistIds.length === 0) throw missing('id, albumId or artistId');
    await deps.services.users.call(
      'unstar',
      { songIds: ids, albumIds: [...albumIds, ...ids], artistIds: [...artistIds, ...ids] },
      call.as,
    );
    return {};
  },

  /** A song's, album's or artist's rating from 1 to 5 for the caller; 0 removes it. */
  setRating: async (call, deps) => {
    const id = call.params.required('id');
    const rating = call.params.requiredInt('rating', 0, 5);
    await deps.services.users.call('setRating', { id, rating }, call.as);
    return {};
  },
};
