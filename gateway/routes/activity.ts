import { createHash } from 'node:crypto';
import { z } from 'zod';
import { EventTypes, type TrackPlayed, trackPlayedSchema } from '../../common/contracts/events.js';
import { id } from '../../common/contracts/shared.js';
import { requireCaller } from '../auth.js';
import { parseBody, queryEnum, queryInt } from '../http.js';
import { LruCache } from '../lru.js';
import { withTimeout } from '../timeout.js';
import type { RouteContext } from './context.js';

/** How far in the future a client's clock may put a play before it is refused. */
const CLOCK_SKEW_MS = 5 * 60_000;

const MAX_MS_PLAYED = 24 * 3600 * 1000;

const playBody = z.strictObject({
  trackId: id,
  msPlayed: trackPlayedSchema.shape.msPlayed.optional(),
  playedAt: z.iso
    .datetime({ offset: true })
    .refine((at) => Date.parse(at) <= Date.now() + CLOCK_SKEW_MS, 'playedAt must not be in the future')
    .optional(),
  source: z.string().min(1).max(100).optional(),
  /** Chosen by the client and sent again on a retry, so a play retried after a 503 counts once. */
  playId: z.uuid().optional(),
});

/**
 * The event id of a client-identified play: derived from the user and the client's id, so
 * retries map to one event and no one can collide with another user's plays.
 */
function playEventId(userId: string, playId: string): string {
  const h = createHash('sha256').update(`${userId}:${playId}`).digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const hex = h.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Plays, the caller's history and statistics. */
export function activityRoutes({ router, services, publisher, publishTimeoutMs }: RouteContext): void {
  // Track id -> duration. Tracks are never deleted, so once seen an id is good for a while and
  // the hot path of a play is one publish, no catalog call.
  const knownTracks = new LruCache<string, number>(50_000, 10 * 60_000);

  const trackDuration = (trackId: string): Promise<number> =>
    knownTracks.getOrLoad(trackId, async () => ({
      value: (await services.catalog.call('getTrack', { id: trackId })).durationMs,
    }));

  /**
   * Answers 202 only once the broker confirmed the event, so an accepted play is never lost;
   * no confirmation in time is a 503 the client retries.
   */
  router.post('/api/plays', async (req, res) => {
    const caller = requireCaller(res);
    const body = parseBody(req, playBody);
    const durationMs = await trackDuration(body.trackId);
    const play: TrackPlayed = {
      userId: caller.userId,
      trackId: body.trackId,
      playedAt: body.playedAt ? new Date(body.playedAt).toISOString() : new Date().toISOString(),
      // Without a figure the client played the whole track.
      msPlayed: body.msPlayed ?? Math.min(Math.round(durationMs), MAX_MS_PLAYED),
      source: body.source ?? 'api',
    };
    const event = await withTimeout(
      publisher.publish(
        EventTypes.TRACK_PLAYED,
        play,
        body.playId ? playEventId(caller.userId, body.playId) : undefined,
      ),
      publishTimeoutMs,
      'the broker confirming the play',
    );
    res.status(202).json({ id: event.id });
  });

  router.get('/api/me/history', async (req, res) => {
    const caller = requireCaller(res);
    res.json(await services.history.call('recent', { limit: queryInt(req, 'limit', 1, 500) }, { caller }));
  });

  router.get('/api/me/stats', async (req, res) => {
    const caller = requireCaller(res);
    res.json(await services.stats.call('user', { limit: queryInt(req, 'limit', 1, 100) }, { caller }));
  });

  router.get('/api/stats/top-tracks', async (req, res) => {
    const params = {
      window: queryEnum(req, 'window', ['hour', 'day', 'all'] as const),
      limit: queryInt(req, 'limit', 1, 100),
    };
    res.json(await services.catalog.call('topTracks', params, { caller: res.locals.caller }));
  });

  router.get('/api/stats/overview', async (_req, res) => {
    res.json(await services.stats.call('overview', {}, { caller: res.locals.caller }));
  });
}
