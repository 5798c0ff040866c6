import type { Channel, ChannelModel, ConfirmChannel } from 'amqplib';
import type { Logger } from 'pino';
import { AttachedChannel } from '../amqp/attached-channel.js';
import type { Broker } from '../amqp/broker.js';
import { UnavailableError } from '../errors.js';
import { currentTraceId, TRACE_HEADER } from '../trace.js';
import { EVENTS_EXCHANGE, type EventDefinition, type EventEnvelope, makeEnvelope } from './envelope.js';
import { declareEventLog, type LogSettings } from './log.js';
import { DEFAULT_PARTITIONS, PARTITION_HEADER, partitionFor } from './partitions.js';
import { declareQueues, type QueueDeclaration } from './topology.js';

export interface EventPublisherOptions {
  broker: Broker;
  logger: Logger;
  /**
   * Consumer-group queues to declare (and bind) before publishing, so an event published
   * before its consumers ever started waits in their queue instead of being dropped.
   */
  queues?: readonly QueueDeclaration[];
  /** Declare the event log (the partition streams every event is also routed to) so. */
  log?: LogSettings;
  /** The event log's partition count, when `log` is not given (default DEFAULT_PARTITIONS). */
  partitions?: number;
}

export type PublishObserver = (type: string) => void;

/**
 * Publishes events to the `music.events` topic exchange: persistent, on a confirm channel.
 * `publish` resolves only once the broker confirmed the message and rejects when it did not
 * (nack, channel closed, not connected).
 */
export class EventPublisher {
  private readonly log: Logger;
  private readonly channel = new AttachedChannel<ConfirmChannel>();
  private observer: PublishObserver | null = null;
  /** Ids of events the broker returned (routed to no queue), until their confirm comes. */
  private readonly returned = new Set<string>();
  /** When each publish awaiting its confirm was sent, in the order they were. */
  private readonly unconfirmed = new Map<number, number>();
  private nextPublish = 0;
  private unwatch: (() => void) | null = null;

  constructor(private readonly opts: EventPublisherOptions) {
    this.log = opts.logger.child({ module: 'event-publisher' });
  }

  get exchange(): string {
    return this.opts.broker.name(EVENTS_EXCHANGE);
  }

  get connected(): boolean {
    return this.channel.current !== null;
  }

  /** How many partitions the events are spread over. */
  get partitions(): number {
    return this.opts.log?.partitions ?? this.opts.partitions ?? DEFAULT_PARTITIONS;
  }

  /**
   * Declares the topology, then publishes from the first connection on. On every later
   * connection it is declared again (it is durable, but a broker may have been reset) beside
   * the publishing rather than before it: after a node of a cluster is lost, the others answer
   * a declaration only once they have given up their lost peer (`net_ticktime`), and neither
   * publishing nor the components attached after this one (an RPC server) need wait for that.
   */
  async start(): Promise<void> {
    // A late confirm: is the broker still there? (a node cut off by the network says nothing)
    this.unwatch ??= this.opts.broker.watchAnswers(() => this.unconfirmed.values().next().value);
    let declared = false;
    await this.channel.open(this.opts.broker, async (model) => {
      const ch = await model.createConfirmChannel();
      this.returned.clear();
      ch.on('return', (msg: { properties: { messageId?: string } }) => {
        if (msg.properties.messageId) this.returned.add(msg.properties.messageId);
      });
      if (!declared) {
        await this.declare(model, ch);
        declared = true;
      } else {
        void this.declareAgain(model);
      }
      return ch;
    });
  }

  private async declare(model: ChannelModel, ch: Channel): Promise<void> {
    await declareQueues(ch, this.opts.broker, this.opts.queues ?? []);
    if (this.opts.log) await declareEventLog(model, this.opts.broker, this.opts.log, this.log);
  }

  /** The topology declared again on a channel of its own, so a failure closes only that one. */
  private async declareAgain(model: ChannelModel): Promise<void> {
    let ch: Channel | null = null;
    try {
      ch = await model.createChannel();
      ch.on('error', () => {});
      await this.declare(model, ch);
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'could not declare the event topology again');
    } finally {
      await ch?.close().catch(() => {});
    }
  }

  async stop(): Promise<void> {
    this.unwatch?.();
    this.unwatch = null;
    await this.channel.close(async (ch) => ch?.waitForConfirms().catch(() => {}));
  }

  observe(observer: PublishObserver): void {
    this.observer = observer;
  }

  /**
   * Checks `data` against the event's schema (a producer's mistake fails here, not in every
   * consumer), wraps it in a new envelope and publishes it; resolves with the envelope once
   * confirmed. A caller retrying the same fact passes the same `id`, so consumers apply it once.
   */
  async publish<T>(event: EventDefinition<T>, data: T, id?: string): Promise<EventEnvelope<T>> {
    const envelope = makeEnvelope(event.type, event.schema.parse(data));
    if (id) envelope.id = id;
    await this.publishEnvelope(envelope, currentTraceId());
    return envelope;
  }

  /** Publishes an existing envelope (e.g. from the outbox) and resolves once confirmed. */
  publishEnvelope(envelope: EventEnvelope, traceId?: string): Promise<void> {
    const ch = this.channel.current;
    if (!ch) return Promise.reject(new UnavailableError('not connected to the message broker'));
    // The partition rides in a header: the log's headers exchange routes on it, in this same
    // publish, so the confirm covers the partition's stream as well as the consumer groups.
    const headers: Record<string, string> = {
      [PARTITION_HEADER]: String(partitionFor(envelope, this.partitions)),
    };
    if (traceId) headers[TRACE_HEADER] = traceId;
    return new Promise((resolve, reject) => {
      const sent = this.nextPublish++;
      this.unconfirmed.set(sent, performance.now());
      try {
        ch.publish(
          this.exchange,
          envelope.type,
          Buffer.from(JSON.stringify(envelope)),
          {
            persistent: true,
            messageId: envelope.id,
            type: envelope.type,
            contentType: 'application/json',
            timestamp: Math.floor(Date.parse(envelope.occurredAt) / 1000),
            headers,
            // With the event log every event lands in a partition: one that lands nowhere (the
            // topology is not there, or not yet there again) is returned, and fails here.
            mandatory: this.opts.log !== undefined,
          },
          (err) => {
            this.unconfirmed.delete(sent);
            // The broker sends a message's return before its confirm.
            if (this.returned.delete(envelope.id)) {
              reject(new UnavailableError(`event ${envelope.type} was routed to no queue`));
            } else if (err) {
              reject(new UnavailableError(`broker did not confirm event ${envelope.type}`));
            } else {
              this.observer?.(envelope.type);
              resolve();
            }
          },
        );
      } catch (err) {
        this.unconfirmed.delete(sent);
        this.log.warn({ err: (err as Error).message }, 'publish failed');
        reject(new UnavailableError('could not publish event'));
      }
    });
  }
}
