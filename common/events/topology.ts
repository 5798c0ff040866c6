import type { Channel } from 'amqplib';
import type { Broker } from '../amqp/broker.js';
import {
  declareWorkQueues,
  retryQueueArguments,
  type WorkQueue,
  workQueueArguments,
} from '../amqp/queues.js';
import { EVENTS_EXCHANGE, eventQueue } from './envelope.js';

/** A consumer group's durable queue for one event type. */
export interface QueueDeclaration {
  group: string;
  event: string;
}

export async function declareExchange(ch: Channel, broker: Broker): Promise<void> {
  await ch.assertExchange(broker.name(EVENTS_EXCHANGE), 'topic', { durable: true });
}

export function queueNames(broker: Broker, q: QueueDeclaration) {
  const main = broker.name(eventQueue(q.group, q.event));
  return { main, dead: `${main}.dead`, retry: (delayMs: number) => `${main}.retry.${delayMs}ms` };
}

/** A group's main queue and its dead-letter queue, replicated like every queue that holds work. */
export function groupQueues(broker: Broker, q: QueueDeclaration): WorkQueue[] {
  const names = queueNames(broker, q);
  return [
    { name: names.main, arguments: workQueueArguments(broker.queueType) },
    { name: names.dead, arguments: workQueueArguments(broker.queueType) },
  ];
}

/**
 * Declares the exchange, each group's main queue (bound to its event's routing key) and
 * dead-letter queue, and with `retryDelaysMs` its retry queues: all in one go, on one channel.
 */
export async function declareQueues(
  ch: Channel,
  broker: Broker,
  queues: readonly QueueDeclaration[],
  retryDelaysMs: readonly number[] = [],
): Promise<void> {
  await declareExchange(ch, broker);
  const delays = [...new Set(retryDelaysMs)];
  await declareWorkQueues(
    broker,
    queues.flatMap((q) => [...groupQueues(broker, q), ...delays.map((d) => retryQueue(broker, q, d))]),
  );
  for (const q of queues)
    await ch.bindQueue(queueNames(broker, q).main, broker.name(EVENTS_EXCHANGE), q.event);
}

/** Back-off before each retry of a failing event; the last value repeats (consumers may set their own). */
const DEFAULT_RETRY_DELAYS_MS: readonly number[] = [200, 1000, 5000];

/** The back-off a consumer uses: the given delays, or the default when none are given. */
export function retryDelays(given: readonly number[] | undefined): readonly number[] {
  return given?.length ? given : DEFAULT_RETRY_DELAYS_MS;
}

/** A retry queue: it holds failed messages for `delayMs`, then dead-letters them back to the main queue. */
export function retryQueue(broker: Broker, q: QueueDeclaration, delayMs: number): WorkQueue {
  const names = queueNames(broker, q);
  return {
    name: names.retry(delayMs),
    arguments: retryQueueArguments(broker.queueType, delayMs, names.main),
  };
}
