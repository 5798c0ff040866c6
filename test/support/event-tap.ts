import type { Channel } from 'amqplib';
import type { Broker } from '../../common/amqp/broker.js';
import type { EventEnvelope } from '../../common/events/envelope.js';
import { EVENTS_EXCHANGE } from '../../common/events/envelope.js';
import { declareExchange } from '../../common/events/topology.js';
import { eventually } from './env.js';

/**
 * A temporary queue bound to the namespace's `music.events` exchange that records every
 * event with the given routing keys, to check what services really publish.
 */
export class EventTap {
  readonly events: EventEnvelope[] = [];

  private constructor(private readonly ch: Channel) {}

  static async open(broker: Broker, routingKeys: readonly string[]): Promise<EventTap> {
    const ch = await broker.channel();
    await declareExchange(ch, broker);
    const { queue } = await ch.assertQueue('', { exclusive: true, autoDelete: true });
    for (const key of routingKeys) await ch.bindQueue(queue, broker.name(EVENTS_EXCHANGE), key);
    const tap = new EventTap(ch);
    await ch.consume(
      queue,
      (msg) => {
        if (msg) tap.events.push(JSON.parse(msg.content.toString('utf8')) as EventEnvelope);
      },
      { noAck: true },
    );
    return tap;
  }

  /** Waits for an event matching `match` and returns it. */
  waitFor<T = unknown>(
    match: (e: EventEnvelope<T>) => boolean,
    timeoutMs = 10_000,
  ): Promise<EventEnvelope<T>> {
    return eventually(() => (this.events as EventEnvelope<T>[]).find(match), timeoutMs).then((e) => e!);
  }

  close(): Promise<void> {
    return this.ch.close().catch(() => {});
  }
}
