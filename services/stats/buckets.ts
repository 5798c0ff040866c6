import { deleteInBatches, type Pool, withAdvisoryLock } from '../../common/index.js';

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

/**
 * Deletes buckets older than they are kept; how many of each table went (none when another
 * worker is pruning: one at a time).
 */
export async function pruneBuckets(pool: Pool, now: Date = new Date()): Promise<Record<string, number>> {
  const deleted: Record<string, number> = Object.fromEntries(BUCKETS.map((b) => [b.table, 0]));
  await withAdvisoryLock(pool, 'bucket pruning', async (client) => {
    // The primary keys lead with the bucket's time: an index range scan of the old ones.
    for (const { table, column, keep } of BUCKETS)
      deleted[table] = await deleteInBatches(client, table, `${column} < $1::timestamptz - $2::interval`, [
        now,
        keep,
      ]);
  });
  return deleted;
}
