import type {
  HistoryContract,
  LoggedPlay,
  Play,
  ReaderScope,
  Track,
  TrackCache,
} from '../../common/contracts/index.js';
import { type Handlers, type Pool, prepared, type UserCallContext } from '../../common/index.js';

export interface HistoryHandlerDeps {
  pool: Pool;
  /** Titles of the tracks a page shows (a lookup that does not answer in time means no titles). */
  tracks: TrackCache;
}

interface PlayRow {
  seq: string;
  event_id: string;
  user_id: string;
  track_id: string;
  played_at: Date;
  ms_played: number;
  source: string;
}

export function historyHandlers(deps: HistoryHandlerDeps): Handlers<HistoryContract> {
  return {
    async recent({ limit }, ctx) {
      const user = ctx.caller.userId;
      // What the reader sees is looked up while their plays are read.
      const scope = deps.tracks.scopeOf(ctx.caller);
      // Prepared: planning it over every monthly partition on each call would cost more than running it.
      const { rows } = await deps.pool.query<PlayRow>(
        prepared(
          `SELECT seq, event_id, user_id, track_id, played_at, ms_played, source FROM plays
           WHERE user_id = $1 ORDER BY played_at DESC, seq DESC LIMIT $2`,
          [user, limit],
        ),
      );
      const tracks = await lookUpTracks(deps, [...new Set(rows.map((r) => r.track_id))], scope, ctx);
      return rows.map((r): Play => {
        const track = tracks?.get(r.track_id);
        // A track the catalog did not return (one of a library the user no longer sees, or
        // one it never had) keeps its place in the user's own history, without names.
        const hidden = tracks !== null && !track;
        return {
          eventId: r.event_id,
          trackId: r.track_id,
          title: track?.title ?? null,
          artistName: track?.artistName ?? null,
          albumTitle: track?.albumTitle ?? null,
          ...(track?.unavailable || hidden ? { unavailable: true as const } : {}),
          playedAt: r.played_at.toISOString(),
          msPlayed: r.ms_played,
          source: r.source,
        };
      });
    },

    async export({ afterSeq, limit, eventIds }) {
      const { rows } = await deps.pool.query<PlayRow>(
        `SELECT seq, event_id, user_id, track_id, played_at, ms_played, source FROM plays
         WHERE seq > $1 AND ($3::uuid[] IS NULL OR event_id = ANY($3::uuid[]))
         ORDER BY seq LIMIT $2`,
        [afterSeq, limit, eventIds ?? null],
      );
      return rows.map(
        (r): LoggedPlay => ({
          seq: Number(r.seq),
          eventId: r.event_id,
          userId: r.user_id,
          trackId: r.track_id,
          playedAt: r.played_at.toISOString(),
          msPlayed: r.ms_played,
          source: r.source,
        }),
      );
    },
  };
}

/**
 * Titles of the tracks as the caller may see them (what they see asked of the catalog),
 * removed ones included (they come marked unavailable): from the cache, and the catalog in
 * one call for those it lacks; null when the catalog does not answer (no titles, not a failure).
 */
async function lookUpTracks(
  deps: HistoryHandlerDeps,
  ids: string[],
  scope: ReaderScope,
  ctx: UserCallContext,
): Promise<Map<string, Track> | null> {
  if (ids.length === 0) return new Map();
  try {
    return await deps.tracks.get(ids, scope);
  } catch (err) {
    ctx.log.warn({ err: (err as Error).message }, 'catalog did not answer; returning plays without titles');
    return null;
  }
}
