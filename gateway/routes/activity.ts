import { z } from 'zod';
import {
  Events,
  id,
  LIBRARY_ID_MAX,
  MAX_PLAYS_PER_REQUEST,
  makePlay,
  type PlayDateWindow,
  playEventId,
  playedAtProblem,
  statsContract,
  trackPlayedSchema,
  WINDOWS,
} from '../../common/contracts/index.js';
import { type Caller, InvalidParamsError, LruCache, NotFoundError, withTimeout } from '../../common/index.js';
import { forClient, requireCaller } from '../auth.js';
import { contractParams, parseBody, queryEnum, queryInt, queryString } from '../http.js';
import type { RouteContext } from './context.js';

const playBody = z.strictObject({
  trackId: id,
  msPlayed: trackPlayedSchema.shape.msPlayed.optional(),
  playedAt: z.iso.datetime({ offset: true }).optional(),
  source: z.string().min(1).max(100).optional(),
  /** Chosen by the client and sent again on a retry, so a play retried after a 503 counts once. */
  playId: z.uuid().optional(),
});
type PlayBody = z.output<typeof playBody>;

const playBatch = z.strictObject({ plays: z.array(playBody).min(1).max(MAX_PLAYS_PER_REQUEST) });

/** Plays, the caller's history and statistics. */
/** Refuses plays dated outside the accepted window, naming the play's field. */
function checkDates(bodies: readonly PlayBody[], window: PlayDateWindow, field: (i: number) => string): void {
  const now = Date.now();
  for (const [i, body] of bodies.entries()) {
    if (body.playedAt === undefined) continue;
    const problem = playedAtProblem(field(i), new Date(body.playedAt), window, now);
    if (problem) throw new InvalidParamsError(`invalid body: ${problem}`);
  }
}

export function activityRoutes({
  router,
  services,
  publisher,
  publishTimeoutMs,
  playDates,
  plays,
}: RouteContext): void {
  // Track id -> duration. A track removed from the library keeps its id (a play of it made
  // before, sent late, is still taken), so once seen an id is good for a while and
  // the hot path of a play is one publish, no catalog call.
  const knownTracks = new LruCache<string, number>(50_000, 10 * 60_000);

  /**
   * Durations of the given tracks: cached ones at once, the others in one catalog call (a
   * track already being looked up for another request shares that lookup, so a burst of plays
   * of a new track costs one call); a 404 names every unknown track.
   */
  const trackDurations = async (
    caller: Caller,
    trackIds: readonly string[],
  ): Promise<Map<string, number>> => {
    // Asked as the caller (a track of a library they do not see is unknown to them); once
    // known, an id stays good for anyone for a while.
    const durations = await knownTracks.getOrLoadMany(trackIds, async (ids) => {
      const tracks = await services.catalog.call('getTracks', { ids, withRemoved: true }, { caller });
      return new Map(tracks.map((t) => [t.id, t.durationMs]));
    });
    const unknown = [...new Set(trackIds.filter((trackId) => !durations.has(trackId)))].slice(0, 20);
    if (unknown.length > 0) throw new NotFoundError(`no track ${unknown.join(', ')}`, { ids: unknown });
    return durations;
  };

  /**
   * Checks the tracks, publishes one `track.played` per play and resolves with their ids once
   * the broker confirmed every one, so an accepted play is never lost; no confirmation in
   * time is a 503 the client retries (with the same play ids, so nothing counts twice).
   */
  const publishPlays = async (caller: Caller, bodies: readonly PlayBody[]): Promise<string[]> => {
    plays.take(caller.userId, bodies.length);
    const durations = await trackDurations(
      caller,
      bodies.map((body) => body.trackId),
    );
    const now = new Date();
    const events = await withTimeout(
      Promise.all(
        bodies.map((body) => {
          const play = makePlay({
            userId: caller.userId,
            trackId: body.trackId,
            playedAt: body.playedAt ? new Date(body.playedAt) : now,
            durationMs: durations.get(body.trackId)!,
            msPlayed: body.msPlayed,
            source: body.source ?? 'api',
          });
          const id = body.playId ? playEventId(caller.userId, body.playId) : undefined;
          return publisher.publish(Events.trackPlayed, play, id);
        }),
      ),
      publishTimeoutMs,
      bodies.length > 1 ? 'the broker confirming the plays' : 'the broker confirming the play',
    );
    return events.map((event) => event.id);
  };

  router.post('/api/plays', async (req, res) => {
    const caller = requireCaller(res);
    const body = parseBody(req, playBody);
    checkDates([body], playDates, () => 'playedAt');
    const [id] = await publishPlays(caller, [body]);
    res.status(202).json({ id });
  });

  /** Several plays at once, all or none checked; the answer lists their ids in order. */
  router.post('/api/plays/batch', async (req, res) => {
    const caller = requireCaller(res);
    const { plays } = parseBody(req, playBatch);
    checkDates(plays, playDates, (i) => `plays.${i}.playedAt`);
    res.status(202).json({ ids: await publishPlays(caller, plays) });
  });

  router.get('/api/me/history', async (req, res) => {
    const caller = requireCaller(res);
    res.json(await services.history.call('recent', { limit: queryInt(req, 'limit', 1, 500) }, { caller }));
  });

  router.get('/api/me/stats', async (req, res) => {
    const caller = requireCaller(res);
    res.json(await services.stats.call('user', { limit: queryInt(req, 'limit', 1, 100) }, { caller }));
  });

  /** `?year=YYYY` or `?month=YYYY-MM` (UTC); without either, the current year. */
  router.get('/api/me/report', async (req, res) => {
    const caller = requireCaller(res);
    const year = queryInt(req, 'year', 1970, 9999);
    const month = queryString(req, 'month', 7);
    if (year !== undefined && month !== undefined)
      throw new InvalidParamsError('give year or month, not both');
    const params = contractParams(
      statsContract,
      'report',
      month !== undefined ? { month } : { year: year ?? new Date().getUTCFullYear() },
    );
    res.json(await services.stats.call('report', params, { caller }));
  });

  router.get('/api/stats/top-tracks', async (req, res) => {
    const params = {
      window: queryEnum(req, 'window', WINDOWS),
      limit: queryInt(req, 'limit', 1, 100),
      library: queryInt(req, 'library', 1, LIBRARY_ID_MAX),
    };
    res.json(await services.catalog.call('topTracks', params, forClient(req, res)));
  });

  router.get('/api/stats/overview', async (_req, res) => {
    res.json(await services.stats.call('overview', {}, { caller: res.locals.caller }));
  });
}
