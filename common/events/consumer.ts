import type { ConfirmChannel, ConsumeMessage } from 'amqplib';
import type { Logger } from 'pino';
import type { z } from 'zod';
import { AckWindow } from '../amqp/acks.js';
import { AttachedChannel } from '../amqp/attached-channel.js';
import type { Broker } from '../amqp/broker.js';
import { configSpec } from '../config.js';
import { describeIssues, type ErrorTranslator, isAppError } from '../errors.js';
import { newTraceId, TRACE_HEADER, withTrace } from '../trace.js';
import { type EventEnvelope, envelopeProblems } from './envelope.js';
import { declareQueues, type QueueDeclaration, queueNames, retryDelays } from './topology.js';

/** Thrown by a handler for an event that can never succeed: it is dead-lettered without retries. */
export class PermanentError extends Error {
  override name = 'PermanentError';
}

export interface HandlerContext {
  log: Logger;
}

export interface EventConsumerOptions<T> {
  broker: Broker;
  logger: Logger;
  /** Consumer group (e.g. `history`); the queue is `<group>.<event-slug>`. */
  group: string;
  /** Event type (routing key), e.g. `track.played`. */
  event: string;
  /** Validates `data`; an event that fails is dead-lettered at once. */
  schema: z.ZodType<T>;
  /**
   * Handles a batch of events; resolving means their effects are committed and they are acked.
   * A failing batch is split and each event retried alone, so one poison event never takes
   * healthy ones down with it.
   */
  handle: (events: EventEnvelope<T>[], ctx: HandlerContext) => Promise<void>;
  /** Most events handed to one `handle` call (default 1). */
  batchSize?: number;
  /**
   * How long a partial batch waits for more events while another batch is being handled
   * (default 5 ms); with none in hand it goes at once, with whatever the same read from the
   * socket delivered, and while one is in hand it goes as soon as that one is done.
   */
  batchWaitMs?: number;
  /** Unacked deliveries held on this consumer's channel (default PREFETCH's). */
  prefetch?: number;
  /** Attempts before dead-lettering (default EVENT_MAX_ATTEMPTS's). */
  maxAttempts?: number;
  /** Back-off before each retry; the last value repeats (default 200 ms, 1 s, 5 s). */
  retryDelaysMs?: readonly number[];
  /**
   * What a handler's failure means: an unavailable dependency makes the event wait without
   * using up attempts, an invalid input dead-letters it at once, anything else is retried.
   */
  translateError?: ErrorTranslator;
}

export interface ConsumerCounters {
  acked: number;
  retried: number;
  deadLettered: number;
}

/** A delivery in hand: its message and the ack window of the channel that carried it. */
interface Delivery {
  acks: AckWindow<ConfirmChannel>;
  msg: ConsumeMessage;
}

interface Item<T> extends Delivery {
  event: EventEnvelope<T>;
}

const HEADER_ATTEMPT = 'x-attempt';
const HEADER_REASON = 'x-death-reason';

/**
 * Consumes one consumer group's durable queue for one event type, with manual acks after the
 * handler's work is committed, bounded retries with back-off through retry queues, and a
 * dead-letter queue `<queue>.dead` holding the reason for anything that could not be handled.
 */
export class EventConsumer<T> {
  readonly counters: ConsumerCounters = { acked: 0, retried: 0, deadLettered: 0 };
  private readonly log: Logger;
  private readonly decl: QueueDeclaration;
  private readonly delays: readonly number[];
  private readonly channel = new AttachedChannel<ConfirmChannel>();
  private consumerTag: string | null = null;
  private buffer: Item<T>[] = [];
  private timer: NodeJS.Timeout | null = null;
  private soon: NodeJS.Immediate | null = null;
  /** Batches being handled (dead-lettering undecodable events is not one). */
  private handling = 0;
  private inFlight = 0;
  private idleWaiters: Array<() => void> = [];
  private stopping = false;

  constructor(private readonly opts: EventConsumerOptions<T>) {
    this.decl = { group: opts.group, event: opts.event };
    this.log = opts.logger.child({
      module: 'event-consumer',
      queue: queueNames(opts.broker, this.decl).main,
    });
    this.delays = retryDelays(opts.retryDelaysMs);
  }

  get queue(): string {
    return queueNames(this.opts.broker, this.decl).main;
  }

  get deadQueue(): string {
    return queueNames(this.opts.broker, this.decl).dead;
  }

  async start(): Promise<void> {
    const { broker } = this.opts;
    await this.channel.open(
      broker,
      async (model) => {
        const ch = await model.createConfirmChannel();
        await declareQueues(ch, broker, [this.decl], this.delays);
        const queue = this.queue;
        await ch.prefetch(this.opts.prefetch ?? configSpec.prefetch.default);
        const acks = new AckWindow(ch);
        const { consumerTag } = await ch.consume(queue, (msg) => {
          if (msg) {
            this.onMessage(acks, msg);
            return;
          }
          // The broker cancelled us (queue deleted): closing the channel makes the broker
          // re-run this attachment, which re-declares the queue and consumes again.
          this.log.warn('consumer cancelled by the broker; re-declaring');
          ch.close().catch(() => {});
        });
        this.consumerTag = consumerTag;
        return ch;
      },
      (ch) => {
        // Unacked deliveries go back to the queue with the channel; forget them here.
        this.buffer = this.buffer.filter((item) => item.acks.channel !== ch);
        this.settleIdle();
      },
    );
    this.log.info('consuming');
  }

  /**
   * Stops taking events, finishes and acks those in hand, then cancels and closes the channel.
   * The channel closes only once nothing is in hand: closing it returns every unacked delivery
   * to the queue, so work finished but not yet acked would be done again by another worker.
   * (Cancelling alone does not: on 3.10 a cancelled quorum consumer keeps its unacked
   * deliveries and its later acks count.) Deliveries arriving meanwhile are not started;
   * closing the channel gives them back untouched.
   */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    await this.channel.close(async (ch) => {
      this.flush();
      await this.idle();
      if (ch && this.consumerTag) await ch.cancel(this.consumerTag).catch(() => {});
    });
  }

  /** Resolves when nothing is buffered or being handled. */
  idle(): Promise<void> {
    if (this.inFlight === 0 && this.buffer.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private onMessage(acks: AckWindow<ConfirmChannel>, msg: ConsumeMessage): void {
    if (this.stopping) return;
    acks.take(msg);
    const event = this.decode(msg);
    if (typeof event === 'string') {
      this.inFlight++;
      this.deadLetter({ acks, msg }, event, attemptOf(msg)).finally(() => this.done());
      return;
    }
    this.buffer.push({ acks, msg, event });
    // Group commit: nothing in hand, the batch goes once this socket read's deliveries are in;
    // otherwise it fills while the one in hand is handled, so batches grow with the load
    // instead of every event waiting for a timer.
    if (this.buffer.length >= (this.opts.batchSize ?? 1)) this.flush();
    else if (this.handling === 0) this.soon ??= setImmediate(() => this.flush());
    else this.timer ??= setTimeout(() => this.flush(), this.opts.batchWaitMs ?? 5);
  }

  /** The envelope, or the reason it is unusable. */
  private decode(msg: ConsumeMessage): EventEnvelope<T> | string {
    let raw: unknown;
    try {
      raw = JSON.parse(msg.content.toString('utf8'));
    } catch {
      return 'body is not valid JSON';
    }
    const problems = envelopeProblems(raw);
    if (problems) return `bad envelope: ${problems}`;
    const envelope = raw as EventEnvelope;
    const data = this.opts.schema.safeParse(envelope.data);
    if (!data.success) return `bad ${envelope.type} data: ${describeIssues(data.error)}`;
    return { id: envelope.id, type: envelope.type, occurredAt: envelope.occurredAt, data: data.data };
  }

  private flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.soon) {
      clearImmediate(this.soon);
      this.soon = null;
    }
    if (this.buffer.length === 0) return;
    const batch = this.buffer;
    this.buffer = [];
    this.inFlight++;
    this.handling++;
    // Deliveries arrive (and are buffered) on the channel that carried them, which may be
    // announced before `consume` itself resolves: always ack on that channel.
    this.process(batch).finally(() => {
      this.handling--;
      if (this.handling === 0) this.flush();
      this.done();
    });
  }

  private done(): void {
    this.inFlight--;
    this.settleIdle();
  }

  private settleIdle(): void {
    if (this.inFlight === 0 && this.buffer.length === 0) {
      for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
  }

  private async process(batch: Item<T>[]): Promise<void> {
    const header = batch[0]!.msg.properties.headers?.[TRACE_HEADER];
    const traceId = typeof header === 'string' ? header : newTraceId();
    try {
      await withTrace(traceId, () =>
        this.opts.handle(
          batch.map((item) => item.event),
          { log: this.log },
        ),
      );
      batch[0]!.acks.ack(batch.map((item) => item.msg));
      this.counters.acked += batch.length;
    } catch (err) {
      if (batch.length > 1) {
        for (const item of batch) await this.process([item]);
        return;
      }
      await this.fail(batch[0]!, err);
    }
  }

  private async fail(delivery: Delivery, err: unknown): Promise<void> {
    const { msg } = delivery;
    const attempt = attemptOf(msg);
    const meaning = this.opts.translateError?.(err) ?? err;
    // For operators reading the dead-letter queue: what it means, and what the dependency said.
    const said = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    const reason =
      meaning === err ? said : `${(meaning as Error).name}: ${(meaning as Error).message} (${said})`;
    // The database (or another dependency) being down says nothing about the event: it waits
    // out the outage at the longest back-off without using up its attempts, however long.
    const waiting = !(err instanceof PermanentError) && isAppError(meaning, 'UNAVAILABLE');
    // A value the store can never take (a data exception) will not be taken on a retry either.
    const permanent = err instanceof PermanentError || isAppError(meaning, 'INVALID_INPUT');
    if (
      !waiting &&
      (permanent || attempt >= (this.opts.maxAttempts ?? configSpec.eventMaxAttempts.default))
    ) {
      await this.deadLetter(delivery, reason, attempt);
      return;
    }
    const delay = waiting
      ? this.delays[this.delays.length - 1]!
      : this.delays[Math.min(attempt - 1, this.delays.length - 1)]!;
    this.log.warn(
      { err: reason, attempt, delayMs: delay, eventId: msg.properties.messageId },
      waiting ? 'dependency unavailable; event waits' : 'retrying event',
    );
    const queue = queueNames(this.opts.broker, this.decl).retry(delay);
    const sent = await this.republish(delivery, queue, {
      [HEADER_ATTEMPT]: waiting ? attempt : attempt + 1,
      'x-last-error': reason,
    });
    if (sent) this.counters.retried++;
  }

  private async deadLetter(delivery: Delivery, reason: string, attempts: number) {
    this.log.error({ reason, attempts, eventId: delivery.msg.properties.messageId }, 'dead-lettering event');
    const sent = await this.republish(delivery, this.deadQueue, {
      [HEADER_REASON]: reason,
      [HEADER_ATTEMPT]: attempts,
      'x-original-queue': this.queue,
      'x-failed-at': new Date().toISOString(),
    });
    if (sent) this.counters.deadLettered++;
  }

  /**
   * Moves a message to another queue: publish (confirmed), then ack the original. If either
   * step fails the original stays unacked and the broker redelivers it; never lost.
   */
  private republish(
    { acks, msg }: Delivery,
    queue: string,
    extra: Record<string, string | number>,
  ): Promise<boolean> {
    return new Promise((resolve) => {
      try {
        acks.channel.sendToQueue(
          queue,
          msg.content,
          { ...msg.properties, persistent: true, headers: { ...msg.properties.headers, ...extra } },
          (err) => {
            if (err) return resolve(false);
            try {
              acks.ack([msg]);
              resolve(true);
            } catch {
              resolve(false);
            }
          },
        );
      } catch {
        resolve(false);
      }
    });
  }
}

function attemptOf(msg: ConsumeMessage): number {
  const n = Number(msg.properties.headers?.[HEADER_ATTEMPT]);
  return Number.isInteger(n) && n > 0 ? n : 1;
}
