import type { Queryable } from './pool.js';
import { prepared } from './prepared.js';

/**
 * Records that `consumer` processed these events, inside the caller's transaction, and
 * returns the ids that were new. Effects applied only for the returned ids happen once,
 * however often the broker redelivers.
 */
export async function claimEvents(
  db: Queryable,
  consumer: string,
  eventIds: readonly string[],
): Promise<Set<string>> {
  if (eventIds.length === 0) return new Set();
  const { rows } = await db.query<{ event_id: string }>(
    prepared(
      `INSERT INTO processed_events (consumer, event_id)
       SELECT $1, unnest($2::uuid[])
       ON CONFLICT DO NOTHING
       RETURNING event_id`,
      [consumer, eventIds],
    ),
  );
  return new Set(rows.map((r) => r.event_id));
}

/** Single-event form of `claimEvents`: true when this is the first time. */
export async function claimEvent(db: Queryable, consumer: string, eventId: string): Promise<boolean> {
  return (await claimEvents(db, consumer, [eventId])).has(eventId);
}
