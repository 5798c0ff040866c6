import { EventTypes, type TrackPlayed } from '../../common/contracts/index.js';
import {
  claimEvents,
  type EventEnvelope,
  eventQueue,
  PermanentError,
  type Pool,
  withTransaction,
} from '../../common/index.js';

/** Name under which this consumer records the events it processed. */
export const PLAYS_CONSUMER = eventQueue('history', EventTypes.TRACK_PLAYED);

/**
 * Stores a batch of plays in one transaction: claim the event ids, then one multi-row insert
 * of the plays seen for the first time. A redelivered event is claimed already and skipped.
 * Returns how many plays were new.
 */
export async function storePlays(pool: Pool, events: readonly EventEnvelope<TrackPlayed>[]): Promise<number> {
  try {
    return await withTransaction(pool, async (client) => {
      // Sorted ids: concurrent batches holding the same (redelivered) ids lock them in one order.
      const claimed = await claimEvents(client, PLAYS_CONSUMER, [...new Set(events.map((e) => e.id))].sort());
      // Set.delete is true only the first time: an event twice in one batch is stored once.
      const fresh = events.filter((e) => claimed.delete(e.id));
      if (fresh.length === 0) return 0;
      await client.query(
        `INSERT INTO plays (event_id, user_id, track_id, played_at, ms_played, source)
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::int[], $6::text[])`,
        [
          fresh.map((e) => e.id),
          fresh.map((e) => e.data.userId),
          fresh.map((e) => e.data.trackId),
          // Millisecond precision, as statistics count it, so a rebuild from this log matches.
          fresh.map((e) => new Date(Date.parse(e.data.playedAt)).toISOString()),
          fresh.map((e) => e.data.msPlayed),
          fresh.map((e) => e.data.source),
        ],
      );
      return fresh.length;
    });
  } catch (err) {
    // SQLSTATE class 22 (data exception, e.g. a NUL byte in a string) can never succeed:
    // dead-letter at once instead of retrying. Anything else (database down) is retried.
    if (String((err as { code?: unknown }).code).startsWith('22')) {
      throw new PermanentError(`unstorable play: ${(err as Error).message}`);
    }
    throw err;
  }
}
