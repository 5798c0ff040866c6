import type { Channel } from 'amqplib';
import type { Broker } from '../amqp/broker.js';
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

/** Declares the exchange, a group's main queue (bound to the event's routing key) and its dead-letter queue. */
export async function declareQueue(ch: Channel, broker: Broker, q: QueueDeclaration): Promise<string> {
  const names = queueNames(broker, q);
  await declareExchange(ch, broker);
  await ch.assertQueue(names.main, { durable: true, arguments: { 'x-queue-type': broker.queueType } });
  await ch.bindQueue(names.main, broker.name(EVENTS_EXCHANGE), q.event);
  await ch.assertQueue(names.dead, { durable: true });
  return names.main;
}

/**
 * A retry queue holds failed messages for `delayMs`, then dead-letters them back to the
 * main queue through the default exchange: back-off without blocking the main queue.
 */
export async function declareRetryQueue(ch: Channel, broker: Broker, q: QueueDeclaration, delayMs: number) {
  const names = queueNames(broker, q);
  const name = names.retry(delayMs);
  await ch.assertQueue(name, {
    durable: true,
    arguments: {
      'x-message-ttl': delayMs,
      'x-dead-letter-exchange': '',
      'x-dead-letter-routing-key': names.main,
    },
  });
  return name;
}
