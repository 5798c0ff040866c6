/**
 * Moves the system's queues that an earlier version declared with other arguments (classic
 * dead-letter and retry queues, durable quorum request queues) to the arguments this version
 * declares (quorum work queues, transient classic request queues), messages included. `npm run queues:migrate` (scripts/queues-migrate.ts) runs it.
 */
import type { Channel, GetMessage } from 'amqplib';
import { SYSTEM } from '../common/contracts/index.js';
import {
  type Broker,
  declareExchange,
  EVENTS_EXCHANGE,
  groupQueues,
  mismatchOf,
  requestQueue,
  retryDelays,
  retryQueue,
  type System,
  type WorkQueue,
} from '../common/index.js';

/** A queue of the system, with the exchange binding it needs (main event queues). */
export interface SystemQueue extends WorkQueue {
  binding?: { exchange: string; routingKey: string };
}

/**
 * Every queue that holds work or failed messages, as this version declares it: each
 * service's request queue, and each subscription's queue with its dead-letter and retry queues.
 */
export function systemQueues(broker: Broker, system: System = SYSTEM): SystemQueue[] {
  const out: SystemQueue[] = [];
  for (const contract of system.contracts.values()) {
    out.push(requestQueue(broker, contract.service));
    for (const sub of Object.values(contract.subscriptions)) {
      const q = { group: contract.service, event: sub.event.type };
      const [main, dead] = groupQueues(broker, q) as [WorkQueue, WorkQueue];
      const delays = [...new Set(retryDelays(sub.retryDelaysMs))];
      out.push(
        { ...main, binding: { exchange: broker.name(EVENTS_EXCHANGE), routingKey: q.event } },
        dead,
        ...delays.map((d) => retryQueue(broker, q, d)),
      );
    }
  }
  return out;
}

export type Outcome =
  | { queue: string; result: 'absent' | 'current' }
  | { queue: string; result: 'migrated'; moved: number; was: string }
  | { queue: string; result: 'refused'; reason: string };

/** Where a queue's messages wait while it is declared again. */
export const holdingQueue = (name: string) => `${name}.migrating`;

async function withChannel<T>(broker: Broker, fn: (ch: Channel) => Promise<T>): Promise<T> {
  const ch = await broker.channel();
  try {
    return await fn(ch);
  } finally {
    await ch.close().catch(() => {});
  }
}

/** The queue's figures, or null when it does not exist. */
function inspect(broker: Broker, name: string) {
  return withChannel(broker, (ch) =>
    ch.checkQueue(name).catch((err: unknown) => {
      if ((err as { code?: unknown }).code === 404) return null;
      throw err;
    }),
  );
}

/** How the existing queue differs from its declaration, or null when it matches. */
function mismatch(broker: Broker, q: WorkQueue): Promise<string | null> {
  return withChannel(broker, (ch) =>
    ch.assertQueue(q.name, { durable: q.durable ?? true, arguments: q.arguments }).then(
      () => null,
      (err: unknown) => {
        const found = mismatchOf(err);
        if (found === null) throw err;
        return found;
      },
    ),
  );
}

/**
 * Moves every message from one queue to another: a batch is fetched, republished with its
 * properties (confirmed), and only then acked, so whatever fails, each message is in one of
 * the two queues (at worst in both, never in neither).
 */
async function move(broker: Broker, from: string, to: string): Promise<number> {
  const ch = await broker.confirmChannel();
  let moved = 0;
  try {
    for (;;) {
      const batch: GetMessage[] = [];
      while (batch.length < 200) {
        const msg = await ch.get(from);
        if (!msg) break;
        batch.push(msg);
      }
      if (batch.length === 0) return moved;
      for (const msg of batch) {
        // A user id other than ours would be refused; the rest travels as it was.
        const { userId: _user, ...properties } = msg.properties;
        ch.sendToQueue(to, msg.content, { ...properties, persistent: true });
      }
      await ch.waitForConfirms();
      ch.ack(batch[batch.length - 1]!, true);
      moved += batch.length;
    }
  } finally {
    await ch.close().catch(() => {});
  }
}

/**
 * Deletes a queue that holds nothing (queue.delete's if-empty flag would do, but quorum queues
 * refuse it, and with a connection error). Throws if something came in meanwhile.
 */
function deleteEmpty(broker: Broker, name: string) {
  return withChannel(broker, async (ch) => {
    const { messageCount } = await ch.checkQueue(name);
    if (messageCount > 0) {
      throw new Error(
        `${name} received ${messageCount} message(s) during the move: stop what publishes to it, then run this again`,
      );
    }
    await ch.deleteQueue(name);
  });
}

/**
 * Declares a queue as given (durable unless `q` says otherwise), with its binding; `also` is
 * unbound from that binding after.
 */
function declare(broker: Broker, name: string, q: SystemQueue, args = q.arguments, also?: string) {
  return withChannel(broker, async (ch) => {
    const durable = args === q.arguments ? (q.durable ?? true) : true;
    await ch.assertQueue(name, { durable, arguments: args });
    if (!q.binding) return;
    await declareExchange(ch, broker);
    await ch.bindQueue(name, q.binding.exchange, q.binding.routingKey);
    if (also) await ch.unbindQueue(also, q.binding.exchange, q.binding.routingKey);
  });
}

/**
 * Brings one queue to its current declaration. A queue that differs is emptied into a holding
 * queue (bound to the exchange first for an event queue, so events published meanwhile wait
 * there too), deleted, declared again with its binding, and refilled; the holding queue goes
 * last. Run again after an interruption, it finishes from the holding queue. Refused while
 * the queue has consumers: the system's workers must be stopped first.
 */
export async function migrateQueue(broker: Broker, q: SystemQueue): Promise<Outcome> {
  const holding = holdingQueue(q.name);
  const [existing, held] = await Promise.all([inspect(broker, q.name), inspect(broker, holding)]);
  if (!existing && !held) return { queue: q.name, result: 'absent' };
  let was = 'left in the holding queue by an interrupted run';
  if (existing) {
    const differs = await mismatch(broker, q);
    if (differs === null && !held) return { queue: q.name, result: 'current' };
    if (differs !== null) {
      if (existing.consumerCount > 0) {
        const reason = `${existing.consumerCount} consumer(s) attached; stop the system's workers first`;
        return { queue: q.name, result: 'refused', reason };
      }
      was = differs;
      // Plain, like the queue's type: no expiry and no dead-lettering while messages wait.
      await declare(broker, holding, q, { 'x-queue-type': String(q.arguments['x-queue-type'] ?? 'classic') });
      await move(broker, q.name, holding);
      await deleteEmpty(broker, q.name);
    }
  }
  await declare(broker, q.name, q, q.arguments, holding);
  const moved = await move(broker, holding, q.name);
  await deleteEmpty(broker, holding);
  return { queue: q.name, result: 'migrated', moved, was };
}

/** Migrates each queue in turn; a refusal does not stop the others. */
export async function migrateQueues(broker: Broker, queues: readonly SystemQueue[]): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  for (const q of queues) outcomes.push(await migrateQueue(broker, q));
  return outcomes;
}
