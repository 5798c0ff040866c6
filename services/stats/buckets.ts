import type { Pool } from '../../common/index.js';

/**
 * The time buckets only recent reads look at: `track_hourly` serves the hour and day windows of
 * topTracks (at most its last 25 hours) and `minute_plays` the overview's last hour. Everything
 * for all time has rows of its own (`track_plays`, `user_totals`, `user_tracks`, the report's
 * tables), so older buckets are never read, and are deleted instead of rolled up: each table
 * keeps twice what its longest read covers. A play older than that (a late or replayed event)
 * still makes its bucket; the next turn deletes it again.
 */
export const BUCKETS = [
  { table: 'track_hourly', column: 'hour', keep: '48 hours' },
  { table: 'minute_plays', column: 'minute', keep: '2 hours' },
] as const;

/** How often a stats worker prunes the buckets. */
export const PRUNE_INTERVAL_MS = 3_600_000;
/** Rows deleted per statement, so pruning never holds many row locks the projection wants. */
const PRUNE_BATCH = 10_000;

/** Deletes buckets older than they are kept; how many of each table went. */
export async function pruneBuckets(pool: Pool, now: Date = new Date()): Promise<Record<string, number>> {
  const deleted: Record<string, number> = {};
  for (const { table, column, keep } of BUCKETS) {
    deleted[table] = 0;
    for (;;) {
      // The primary keys lead with the bucket's time: an index range scan of the old ones.
      const { rowCount } = await pool.query(
        `DELETE FROM ${table} WHERE ctid = ANY (ARRAY(
           SELECT ctid FROM ${table} WHERE ${column} < $1::timestamptz - $2::interval LIMIT ${PRUNE_BATCH}))`,
        [now, keep],
      );
      deleted[table] += rowCount ?? 0;
      if ((rowCount ?? 0) < PRUNE_BATCH) break;
    }
  }
  return deleted;
}
