import { CO_PLAY_LISTENERS_MAX, type StatsContract } from '../../common/contracts/index.js';
import { type Handlers, type Pool, prepared } from '../../common/index.js';

/**
 * What the play counters tell about tracks the catalog asks after: their counts, and the
 * tracks their listeners also played (read from `user_tracks`, plays per user and track).
 */
export function listeningHandlers(pool: Pool): Pick<Handlers<StatsContract>, 'trackPlays' | 'coPlayed'> {
  return {
    async trackPlays({ trackIds }) {
      const { rows } = await pool.query<{ track_id: string; plays: string }>(
        prepared('SELECT track_id, plays FROM track_plays WHERE track_id = ANY($1::text[])', [trackIds]),
      );
      return rows.map((r) => ({ trackId: r.track_id, plays: Number(r.plays) }));
    },

    async coPlayed({ trackIds, limit }) {
      if (trackIds.length === 0) return [];
      // The seeds' most active listeners (bounded), then everything else they played.
      const { rows } = await pool.query<{ track_id: string; listeners: number; plays: string }>(
        prepared(
          `WITH listeners AS (
             SELECT user_id FROM user_tracks WHERE track_id = ANY($1::text[])
             GROUP BY user_id ORDER BY sum(plays) DESC, user_id LIMIT $2
           )
           SELECT ut.track_id, count(*)::int AS listeners, sum(ut.plays) AS plays
           FROM user_tracks ut JOIN listeners l ON l.user_id = ut.user_id
           WHERE ut.track_id <> ALL($1::text[])
           GROUP BY ut.track_id ORDER BY listeners DESC, plays DESC, ut.track_id LIMIT $3`,
          [trackIds, CO_PLAY_LISTENERS_MAX, limit],
        ),
      );
      return rows.map((r) => ({ trackId: r.track_id, listeners: r.listeners, plays: Number(r.plays) }));
    },
  };
}
