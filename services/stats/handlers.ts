import type { StatsContract, TopTrack, TrackCache, TrackCount } from '../../common/contracts/index.js';
import type { Handlers, PartitionStanding, Pool, SharedAnswers } from '../../common/index.js';
import { listeningHandlers } from './listening.js';
import { COUNTER_NAMES } from './projections.js';
import { readReport } from './report.js';

interface CountRow {
  track_id: string;
  plays: string;
}

const toCounts = (rows: CountRow[]): TrackCount[] =>
  rows.map((r) => ({ trackId: r.track_id, plays: Number(r.plays) }));

/**
 * Windows of `stats.topTracks` are read from hourly buckets, so their start is rounded down to
 * the hour: `hour` counts the plays since the start of the hour 60 minutes ago (between 60
 * and 120 minutes of plays), `day` those since the start of the hour 24 hours ago (24 to 25
 * hours). A play inside the window is never left out.
 */
export const WINDOW_INTERVALS = { hour: '1 hour', day: '24 hours' } as const;

/** The top tracks of a window (`$1`, one of WINDOW_INTERVALS) ranked by listeners, at most `$2` (bench/datascale.ts times it alone). */
export const TOP_OF_WINDOW_SQL = `WITH since AS (SELECT date_trunc('hour', now() - $1::interval) AS at),
     p AS (SELECT track_id, sum(plays) AS plays FROM track_hourly, since
           WHERE hour >= since.at GROUP BY track_id),
     l AS (SELECT track_id, count(*) AS listeners FROM user_tracks, since
           WHERE last_played_at >= since.at GROUP BY track_id)
SELECT p.track_id, p.plays, coalesce(l.listeners, 0) AS listeners FROM p LEFT JOIN l USING (track_id)
ORDER BY listeners DESC, p.plays DESC, p.track_id LIMIT $2`;

export interface StatsHandlerDeps {
  pool: Pool;
  /** Artists, albums and genres of a report's tracks. */
  tracks: TrackCache;
  /** The top tracks of the last hour and day, shared by every caller (STATS_CHARTS_MAX_AGE_MS), by window and limit. */
  charts: SharedAnswers<string, TopTrack[]>;
  /** Each projection's standing in every partition of the log (projectionLag). */
  standings: () => Promise<PartitionStanding[]>;
}

export function statsHandlers({
  pool,
  tracks,
  charts,
  standings,
}: StatsHandlerDeps): Handlers<StatsContract> {
  return {
    projectionLag: () => standings(),

    async topTracks({ window, limit }) {
      // Ranked by listeners, then plays (services/stats/plays.ts says why).
      const toTop = (rows: Array<CountRow & { listeners: string }>) =>
        rows.map((r) => ({ trackId: r.track_id, plays: Number(r.plays), listeners: Number(r.listeners) }));
      if (window === 'all') {
        const { rows } = await pool.query<CountRow & { listeners: string }>(
          `SELECT track_id, plays, listeners FROM track_plays
           ORDER BY listeners DESC, plays DESC, track_id LIMIT $1`,
          [limit],
        );
        return toTop(rows);
      }
      // Listeners of the window: the users whose last play of a track is in it.
      return charts.get(`${window}/${limit}`, async () => {
        const { rows } = await pool.query<CountRow & { listeners: string }>(TOP_OF_WINDOW_SQL, [
          WINDOW_INTERVALS[window],
          limit,
        ]);
        return toTop(rows);
      });
    },

    async user({ limit }, ctx) {
      const user = ctx.caller.userId;
      const [totals, top] = await Promise.all([
        pool.query<{ plays: string; ms_played: string; last_played_at: Date; distinct_tracks: string }>(
          `SELECT plays, ms_played, last_played_at,
                  (SELECT count(*) FROM user_tracks WHERE user_id = $1) AS distinct_tracks
           FROM user_totals WHERE user_id = $1`,
          [user],
        ),
        pool.query<CountRow>(
          'SELECT track_id, plays FROM user_tracks WHERE user_id = $1 ORDER BY plays DESC, track_id LIMIT $2',
          [user, limit],
        ),
      ]);
      // A user who has not played anything yet has zero totals, not an error: statistics do
      // not know which users exist.
      const row = totals.rows[0];
      return {
        userId: user,
        totalPlays: Number(row?.plays ?? 0),
        totalMs: Number(row?.ms_played ?? 0),
        distinctTracks: Number(row?.distinct_tracks ?? 0),
        topTracks: toCounts(top.rows),
        lastPlayedAt: row ? row.last_played_at.toISOString() : null,
      };
    },

    async overview() {
      const [minutes, totals] = await Promise.all([
        pool.query<{ minute: Date; plays: string }>(
          `SELECT m.minute, coalesce(p.plays, 0) AS plays
           FROM generate_series(date_trunc('minute', now()) - interval '59 minutes',
                                date_trunc('minute', now()), interval '1 minute') AS m(minute)
           LEFT JOIN minute_plays p ON p.minute = m.minute
           ORDER BY m.minute`,
        ),
        pool.query<{ total_plays: string; active_users: string; registered: string; changes: string }>(
          `SELECT (SELECT coalesce(sum(plays), 0) FROM track_plays) AS total_plays,
                  (SELECT count(*) FROM user_totals WHERE last_played_at >= now() - interval '1 hour')
                    AS active_users,
                  (SELECT coalesce(max(value), 0) FROM counters WHERE name = $1) AS registered,
                  (SELECT coalesce(max(value), 0) FROM counters WHERE name = $2) AS changes`,
          [COUNTER_NAMES.registeredUsers, COUNTER_NAMES.playlistChanges],
        ),
      ]);
      const t = totals.rows[0]!;
      return {
        totalPlays: Number(t.total_plays),
        activeUsers: Number(t.active_users),
        // The current minute last; minutes without plays are 0.
        perMinute: minutes.rows.map((r) => ({ minute: r.minute.toISOString(), plays: Number(r.plays) })),
        registeredUsers: Number(t.registered),
        playlistChanges: Number(t.changes),
      };
    },

    report(params, ctx) {
      return readReport(pool, tracks, ctx.caller, params);
    },

    ...listeningHandlers(pool),
  };
}
