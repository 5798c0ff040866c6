import type { TrackPlayed } from '../../common/contracts/index.js';
import { type EventEnvelope, PermanentError, type Pool, prepared } from '../../common/index.js';

/**
 * Stores a batch of plays in one statement. Each play first claims its event id in
 * `play_ids` (ON CONFLICT DO NOTHING) and only the plays whose id was claimed are inserted
 * into the partitioned `plays`, in the same statement, so an event redelivered (or twice in
 * one batch) within the dedup window is stored once. Returns how many plays were new.
 */
export async function storePlays(pool: Pool, events: readonly EventEnvelope<TrackPlayed>[]): Promise<number> {
  // One row per id, sorted: concurrent batches holding the same (redelivered) ids insert them
  // in one order, so they wait on each other instead of deadlocking.
  const plays = [...new Map(events.map((e) => [e.id, e])).values()].sort((a, b) => (a.id < b.id ? -1 : 1));
  if (plays.length === 0) return 0;
  const { rowCount } = await pool
    .query(
      prepared(
        `WITH input (event_id, user_id, track_id, played_at, ms_played, source) AS (
           SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::int[], $6::text[])
         ), claimed AS (
           INSERT INTO play_ids (event_id, played_at) SELECT event_id, played_at FROM input
           ON CONFLICT (event_id) DO NOTHING RETURNING event_id
         )
         INSERT INTO plays (event_id, user_id, track_id, played_at, ms_played, source)
         SELECT input.* FROM input JOIN claimed USING (event_id)`,
        [
          plays.map((e) => e.id),
          plays.map((e) => e.data.userId),
          plays.map((e) => e.data.trackId),
          // Millisecond precision, as statistics count it, so a rebuild from this log matches.
          plays.map((e) => new Date(Date.parse(e.data.playedAt)).toISOString()),
          plays.map((e) => e.data.msPlayed),
          plays.map((e) => e.data.source),
        ],
      ),
    )
    .catch((err: unknown) => {
      // A play of a month the log has no partition for (older than the retention kept, or far
      // ahead): it can never be stored. Alone in its batch (a failing batch is retried one
      // event at a time) it is dead-lettered with this reason.
      if ((err as { code?: string }).code === '23514' && /no partition/.test((err as Error).message))
        throw new PermanentError(
          `no partition of the play log holds ${plays.length === 1 ? plays[0]!.data.playedAt : 'a play of this batch'}: its month is outside the months kept (PLAY_LOG_RETENTION)`,
        );
      throw err;
    });
  return rowCount ?? 0;
}
