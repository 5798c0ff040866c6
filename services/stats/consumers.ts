import type { StatsContract } from '../../common/contracts/index.js';
import {
  claimEvents,
  type EventEnvelope,
  eventQueue,
  type Pool,
  type PoolClient,
  withTransaction,
} from '../../common/index.js';
import type { Subscribers } from '../../common/service.js';
import { applyPlays } from './plays.js';
import { COUNTERS_TABLE, Tally } from './tally.js';

/** Name under which live play counting records the events it processed (the rebuild uses it too). */
export const PLAYS_CONSUMER = eventQueue('stats', 'track.played');

export const COUNTER_NAMES = {
  registeredUsers: 'registered_users',
  playlistChanges: 'playlist_changes',
} as const;

/** The stats service's subscribers: plays, registrations and playlist changes. */
export function statsSubscribers(pool: Pool): Subscribers<StatsContract> {
  return {
    plays: counting(pool, PLAYS_CONSUMER, (client, events) =>
      applyPlays(
        client,
        events.map((e) => e.data),
      ),
    ),
    registrations: counting(pool, eventQueue('stats', 'user.registered'), (client, events) =>
      addToCounter(client, COUNTER_NAMES.registeredUsers, events.length),
    ),
    playlistChanges: counting(pool, eventQueue('stats', 'playlist.changed'), (client, events) =>
      addToCounter(client, COUNTER_NAMES.playlistChanges, events.length),
    ),
  };
}

/**
 * A batch is one transaction: claim the event ids, then apply the events seen for the first
 * time. The claim and the effect commit together, so a redelivered event is never counted
 * twice and a failed batch counts nothing.
 */
function counting<T>(
  pool: Pool,
  consumer: string,
  apply: (client: PoolClient, fresh: EventEnvelope<T>[]) => Promise<void>,
): (events: EventEnvelope<T>[]) => Promise<void> {
  return async (events) => {
    await withTransaction(pool, async (client) => {
      // Sorted ids: concurrent batches holding the same (redelivered) ids lock them in one order.
      const claimed = await claimEvents(client, consumer, [...new Set(events.map((e) => e.id))].sort());
      // Set.delete is true only the first time: an event twice in one batch counts once.
      const fresh = events.filter((e) => claimed.delete(e.id));
      if (fresh.length > 0) await apply(client, fresh);
    });
  };
}

async function addToCounter(client: PoolClient, name: string, delta: number): Promise<void> {
  const tally = new Tally(COUNTERS_TABLE);
  tally.add([name, delta]);
  await tally.upsert(client);
}
