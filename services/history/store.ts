import type { TrackPlayed } from '../../common/contracts/index.js';
import { type EventEnvelope, type Pool, prepared } from '../../common/index.js';

/**
 * Stores a batch of plays in one statement. The event id is the table's unique key, so an
 * event redelivered (or twice in one batch) is stored once: the play log is its own record of
 * what was processed, with no separate claim to write. Returns how many plays were new.
 */
export async function storePlays(pool: Pool, events: readonly EventEnvelope<TrackPlayed>[]): Promise<number> {
  // One row per id, sorted: concurrent batches holding the same (redelivered) ids insert them
  // in one order, so they wait on each other instead of deadlocking.
  const plays = [...new Map(events.map((e) => [e.id, e])).values()].sort((a, b) => (a.id < b.id ? -1 : 1));
  if (plays.length === 0) return 0;
  const { rowCount } = await pool.query(
    prepared(
      `INSERT INTO plays (event_id, user_id, track_id, played_at, ms_played, source)
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::int[], $6::text[])
         ON CONFLICT (event_id) DO NOTHING`,
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
  );
  return rowCount ?? 0;
}
