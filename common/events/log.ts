import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import type { Logger } from 'pino';
import type { Broker } from '../amqp/broker.js';
import { EVENTS_EXCHANGE, type EventEnvelope, envelopeProblems } from './envelope.js';

/**
 * The event log: a RabbitMQ stream bound to `music.events` for every event type, so every
 * event published is also retained (for EVENT_LOG_MAX_AGE / EVENT_LOG_MAX_BYTES) and can be
 * read again from any point. It does not replace the consumer groups' work queues; views
 * (projections, common/projections/) are built from it.
 */
export const EVENT_LOG = 'music.events.log';

export interface LogRetention {
  /** A RabbitMQ duration: `400D`, `12h`. */
  maxAge: string;
  /** 0: no size limit. */
  maxBytes: number;
  segmentBytes: number;
}

/**
 * Declares the log and binds it to every event type. A log that already exists with other
 * retention arguments is used as it is (declaring it again would fail and close the channel),
 * with a warning saying how to change the retention of a live stream (a policy).
 */
export async function declareEventLog(
  model: ChannelModel,
  broker: Broker,
  retention: LogRetention,
  log: Logger,
): Promise<string> {
  const name = broker.name(EVENT_LOG);
  const args: Record<string, unknown> = {
    'x-queue-type': 'stream',
    'x-max-age': retention.maxAge,
    'x-stream-max-segment-size-bytes': retention.segmentBytes,
  };
  if (retention.maxBytes > 0) args['x-max-length-bytes'] = retention.maxBytes;
  const ch = await model.createChannel();
  ch.on('error', () => {});
  try {
    await ch.assertQueue(name, { durable: true, arguments: args });
  } catch (err) {
    if ((err as { code?: number }).code !== 406) throw err;
    log.warn(
      { stream: name, err: (err as Error).message },
      'the event log exists with other retention settings; it is kept as it is (change a live stream with a policy: rabbitmqctl set_policy)',
    );
    const check = await model.createChannel();
    await check.checkQueue(name);
    await check.close();
    return name;
  }
  await ch.bindQueue(name, broker.name(EVENTS_EXCHANGE), '#');
  await ch.close();
  return name;
}

/** Where to start reading: the oldest retained event, the next one to arrive, an offset or a time. */
export type LogPosition = 'first' | 'next' | { offset: number } | { time: Date };

/** One event of the log as read: its offset, and its envelope or why it has none. */
export interface LogRecord {
  offset: number;
  envelope: EventEnvelope | null;
  /** Why the message is not a usable envelope (then `envelope` is null). */
  problem?: string;
  /** The message as stored, for dead-lettering. */
  message: ConsumeMessage;
}

/** The `x-stream-offset` consumer argument for a position (amqplib's typed field values). */
function offsetArgument(from: LogPosition): unknown {
  if (from === 'first' || from === 'next') return from;
  if ('offset' in from) return { '!': 'long', value: from.offset };
  return { '!': 'timestamp', value: Math.floor(from.time.getTime() / 1000) };
}

function decode(message: ConsumeMessage): Pick<LogRecord, 'envelope' | 'problem'> {
  let raw: unknown;
  try {
    raw = JSON.parse(message.content.toString('utf8'));
  } catch {
    return { envelope: null, problem: 'body is not valid JSON' };
  }
  const problems = envelopeProblems(raw);
  return problems
    ? { envelope: null, problem: `bad envelope: ${problems}` }
    : { envelope: raw as EventEnvelope };
}

export interface LogReaderOptions {
  broker: Broker;
  logger: Logger;
  from: LogPosition;
  /** Most events in one batch (default 500). */
  batchSize?: number;
  /**
   * Least time from the start of one partial batch to the start of the next (default 10 ms):
   * under load a transaction carries what arrived meanwhile instead of a few events, while a
   * record arriving after a quiet spell goes at once. A full batch never waits.
   */
  batchIntervalMs?: number;
  /**
   * Handles one batch, in log order; resolving moves on to the next. Batches are handed over
   * one at a time. A rejection stops the reader (`closed` resolves with the error).
   */
  onBatch: (records: LogRecord[]) => Promise<void>;
}

/**
 * Reads the event log from a position, in order, in batches, with the flow control streams
 * need (prefetch and acks). It runs until `stop()`, until its channel closes (broker lost) or
 * until a batch fails; `closed` says which. Its owner decides where the next one starts.
 */
export class LogReader {
  /** Resolves when reading has ended: with undefined when stopped, else with the reason. */
  readonly closed: Promise<Error | undefined>;
  private ch: Channel | null = null;
  private consumerTag: string | null = null;
  private buffer: LogRecord[] = [];
  private soon: NodeJS.Immediate | null = null;
  private timer: NodeJS.Timeout | null = null;
  private lastStart = Number.NEGATIVE_INFINITY;
  private busy: Promise<void> | null = null;
  private finish!: (reason: Error | undefined) => void;
  private done = false;
  /** The offset of the last record handed over (undefined before the first). */
  lastOffset: number | undefined;

  constructor(private readonly opts: LogReaderOptions) {
    this.closed = new Promise((resolve) => {
      this.finish = resolve;
    });
  }

  get batchSize(): number {
    return this.opts.batchSize ?? 500;
  }

  async start(): Promise<void> {
    const ch = await this.opts.broker.channel();
    this.ch = ch;
    ch.once('close', () =>
      this.end(this.done ? undefined : new Error('the connection to the event log closed')),
    );
    // Streams deliver against credit: twice a batch keeps one in hand while the next fills.
    await ch.prefetch(2 * this.batchSize);
    const { consumerTag } = await ch.consume(
      this.opts.broker.name(EVENT_LOG),
      (msg) => {
        if (msg) this.onMessage(msg);
        else this.end(new Error('the event log consumer was cancelled'));
      },
      { noAck: false, arguments: { 'x-stream-offset': offsetArgument(this.opts.from) } },
    );
    this.consumerTag = consumerTag;
  }

  /** Stops reading once the batch in hand is handled; unhandled records are simply not acked. */
  async stop(): Promise<void> {
    this.cancelFlush();
    this.buffer = [];
    await this.busy?.catch(() => {});
    this.end(undefined);
  }

  private end(reason: Error | undefined): void {
    if (this.done) return;
    this.done = true;
    this.cancelFlush();
    const ch = this.ch;
    this.ch = null;
    if (ch) {
      (this.consumerTag ? ch.cancel(this.consumerTag) : Promise.resolve())
        .catch(() => {})
        .then(() => ch.close())
        .catch(() => {});
    }
    this.finish(reason);
  }

  private onMessage(message: ConsumeMessage): void {
    if (this.done) return;
    const offset = Number(message.properties.headers?.['x-stream-offset']);
    this.buffer.push({ offset, message, ...decode(message) });
    if (!this.busy) this.schedule();
  }

  /**
   * Group commit: a batch goes once this socket read's records are in (or, while one is being
   * applied, once that one is done, with whatever arrived meanwhile), but no sooner than
   * `batchIntervalMs` after the last one started, unless it is full.
   */
  private schedule(): void {
    if (this.buffer.length === 0) return;
    const wait = this.lastStart + (this.opts.batchIntervalMs ?? 10) - performance.now();
    if (this.buffer.length >= this.batchSize) this.flush();
    else if (wait > 0) this.timer ??= setTimeout(() => this.flush(), wait);
    else this.soon ??= setImmediate(() => this.flush());
  }

  private cancelFlush(): void {
    if (this.soon) clearImmediate(this.soon);
    this.soon = null;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private flush(): void {
    this.cancelFlush();
    if (this.done || this.busy || this.buffer.length === 0) return;
    const batch = this.buffer.splice(0, this.batchSize);
    this.lastStart = performance.now();
    this.busy = this.opts
      .onBatch(batch)
      .then(
        () => {
          this.lastOffset = batch[batch.length - 1]!.offset;
          try {
            this.ch?.ack(batch[batch.length - 1]!.message, true);
          } catch {
            // The channel is closing; `closed` tells the owner.
          }
        },
        (err: unknown) => this.end(err instanceof Error ? err : new Error(String(err))),
      )
      .finally(() => {
        this.busy = null;
        this.schedule();
      });
  }
}

/** Offsets of the oldest and newest events the log holds now, or null when it is empty. */
export async function logBounds(broker: Broker): Promise<{ first: number; last: number } | null> {
  const first = await edgeOffset(broker, 'first');
  if (first === undefined) return null;
  return { first, last: (await edgeOffset(broker, 'last')) ?? first };
}

/**
 * Reads from one end of the log: from `first`, the first offset delivered; from `last` (the
 * start of the newest chunk), the largest one delivered before the log goes quiet.
 */
async function edgeOffset(broker: Broker, from: 'first' | 'last'): Promise<number | undefined> {
  const ch = await broker.channel();
  let seen: number | undefined;
  let heardAt = 0;
  try {
    await ch.prefetch(1000);
    await ch.consume(
      broker.name(EVENT_LOG),
      (msg) => {
        if (!msg) return;
        const offset = Number(msg.properties.headers?.['x-stream-offset']);
        seen =
          seen === undefined ? offset : from === 'first' ? Math.min(seen, offset) : Math.max(seen, offset);
        heardAt = Date.now();
        ch.ack(msg);
      },
      { noAck: false, arguments: { 'x-stream-offset': from } },
    );
    const started = Date.now();
    // Nothing within 500 ms: the log is empty. Otherwise read on until it is quiet for 100 ms.
    for (;;) {
      await new Promise((r) => setTimeout(r, 20));
      if (seen === undefined ? Date.now() - started > 500 : from === 'first' || Date.now() - heardAt > 100)
        break;
      if (Date.now() - started > 10_000) break;
    }
  } finally {
    await ch.close().catch(() => {});
  }
  return seen;
}
