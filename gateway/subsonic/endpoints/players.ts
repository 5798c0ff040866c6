import {
  MAX_MS_PLAYED,
  PLAY_QUEUE_MAX,
  PLAYBACK_STATES,
  type PlayQueue,
  type Track,
} from '../../../common/contracts/index.js';
import { type Call, type Deps, distinct, type Endpoint, tracksByIds } from '../context.js';
import { song } from '../models.js';
import { type Body, missing, SubsonicCodes, SubsonicError } from '../response.js';

/**
 * What players keep on the server: the play queue (carried from one player to another) and
 * what each is playing now (OpenSubsonic playbackReport). Both live in the users service, so
 * every gateway sees the same.
 */

const badParameter = (message: string) => new SubsonicError(SubsonicCodes.MISSING_PARAMETER, message);

/** The queue's `id`s, checked for size before anything is asked of a service. */
function queueIds(call: Call): string[] {
  const ids = call.params.list('id');
  if (ids.length > PLAY_QUEUE_MAX) {
    throw new SubsonicError(SubsonicCodes.GENERIC, `a play queue holds at most ${PLAY_QUEUE_MAX} songs`);
  }
  return ids;
}

async function saveQueue(call: Call, deps: Deps, trackIds: string[], currentIndex: number | undefined) {
  const positionMs = call.params.int('position', 0, MAX_MS_PLAYED) ?? 0;
  await deps.services.users.call(
    'savePlayQueue',
    { trackIds, currentIndex, positionMs, client: call.client },
    call.as,
  );
  return {};
}

/**
 * The saved queue as the API shows it: its songs (any the catalog no longer has left out)
 * and the index of the current one among them. Undefined when nothing is saved.
 */
async function loadQueue(call: Call, deps: Deps): Promise<{ queue: PlayQueue; base: Body } | undefined> {
  const username = call.params.string('username');
  if (username && username.toLowerCase() !== call.caller.username.toLowerCase()) {
    throw new SubsonicError(SubsonicCodes.NOT_AUTHORIZED, 'a play queue is read by its own user only');
  }
  const queue = await deps.services.users.call('getPlayQueue', {}, call.as);
  if (!queue) return undefined;
  const [found, marks] = await Promise.all([tracksByIds(deps, distinct(queue.trackIds)), call.marks()]);
  const byId = new Map(found.map((t) => [t.id, t]));
  const current = queue.currentIndex ?? 0;
  const kept: Track[] = [];
  let currentIndex = 0;
  queue.trackIds.forEach((id, i) => {
    const track = byId.get(id);
    if (i === current) currentIndex = kept.length;
    if (track) kept.push(track);
  });
  const entry = kept.map((t) => song(t, marks));
  return {
    queue: { ...queue, currentIndex: kept.length > 0 ? Math.min(currentIndex, kept.length - 1) : null },
    base: {
      position: queue.positionMs,
      username: call.caller.username,
      changed: queue.changedAt,
      changedBy: queue.changedBy,
      entry,
    },
  };
}

export const playerEndpoints: Record<string, Endpoint> = {
  /** The queue's songs, the `current` one (its id; the first of its copies) and the `position` in it. */
  savePlayQueue: async (call, deps) => {
    const ids = queueIds(call);
    if (ids.length === 0) return saveQueue(call, deps, [], undefined);
    const current = call.params.string('current');
    if (!current) throw missing('current');
    const index = ids.indexOf(current);
    if (index < 0) throw badParameter(`current (${current}) must be one of the ids of the queue`);
    return saveQueue(call, deps, ids, index);
  },

  /** OpenSubsonic indexBasedQueue: the same with `currentIndex`, so a song may be queued twice. */
  savePlayQueueByIndex: async (call, deps) => {
    const ids = queueIds(call);
    if (ids.length === 0) return saveQueue(call, deps, [], undefined);
    const index = call.params.int('currentIndex', 0, PLAY_QUEUE_MAX - 1);
    if (index === undefined) throw missing('currentIndex');
    if (index >= ids.length) {
      throw badParameter(`currentIndex must be from 0 to ${ids.length - 1}, the queue's positions`);
    }
    return saveQueue(call, deps, ids, index);
  },

  getPlayQueue: async (call, deps) => {
    const loaded = await loadQueue(call, deps);
    if (!loaded) return {};
    const { queue, base } = loaded;
    const entries = base.entry as Body[];
    const current = queue.currentIndex === null ? undefined : entries[queue.currentIndex]?.id;
    return { playQueue: { current, ...base } };
  },

  getPlayQueueByIndex: async (call, deps) => {
    const loaded = await loadQueue(call, deps);
    if (!loaded) return {};
    return { playQueueByIndex: { currentIndex: loaded.queue.currentIndex ?? undefined, ...loaded.base } };
  },

  /** OpenSubsonic playbackReport: where a player is in a song, and whether it plays. */
  reportPlayback: async (call, deps) => {
    const { params } = call;
    const mediaType = params.string('mediaType') ?? 'song';
    if (mediaType !== 'song') {
      throw new SubsonicError(SubsonicCodes.GENERIC, `mediaType ${mediaType} is not served here: only songs`);
    }
    const state = params.required('state');
    if (!(PLAYBACK_STATES as readonly string[]).includes(state)) {
      throw new SubsonicError(SubsonicCodes.GENERIC, `state must be one of ${PLAYBACK_STATES.join(', ')}`);
    }
    await deps.services.users.call(
      'reportPlayback',
      {
        trackId: params.required('mediaId'),
        state: state as (typeof PLAYBACK_STATES)[number],
        positionMs: Math.round(params.requiredNumber('positionMs', 0, MAX_MS_PLAYED)),
        playbackRate: params.number('playbackRate', 0, 16) ?? 1,
        ignoreScrobble: params.bool('ignoreScrobble') ?? false,
        client: call.client,
      },
      call.as,
    );
    return {};
  },

  /** What every user's players are playing, from their reports and streams, with state and position. */
  getNowPlaying: async (call, deps) => {
    const entries = await deps.services.users.call('nowPlaying', {}, call.as);
    const [tracks, marks] = await Promise.all([
      tracksByIds(deps, distinct(entries.map((e) => e.trackId))),
      call.marks(),
    ]);
    const byId = new Map(tracks.map((t) => [t.id, t]));
    const now = Date.now();
    return {
      nowPlaying: {
        entry: entries.flatMap((e) => {
          const track = byId.get(e.trackId);
          if (!track) return [];
          return [
            {
              ...song(track, marks),
              username: e.username,
              minutesAgo: Math.max(0, Math.floor((now - Date.parse(e.updatedAt)) / 60_000)),
              playerId: e.playerId,
              playerName: e.playerName,
              state: e.state,
              positionMs: e.positionMs,
              playbackRate: e.playbackRate,
            },
          ];
        }),
      },
    };
  },
};
