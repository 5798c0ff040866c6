import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import type { Logger } from 'pino';
import type { Broker } from '../amqp/broker.js';
import { EVENTS_EXCHANGE, type EventEnvelope, envelopeProblems } from './envelope.js';
import {
  assertPartitionCount,
  LEGACY_STREAM,
  MAX_PARTITIONS,
  PARTITION_HEADER,
  PARTITIONS_EXCHANGE,
  partitionCountMarker,
  partitionNumbers,
  partitionStream,
  UNKEYED_EXCHANGE,
} from './partitions.js';

/**
 * The event log: N RabbitMQ streams (partitions, common/events/partitions.ts) that every
 * event published is also routed to, each to one, and retained (for EVENT_LOG_MAX_AGE /
 * EVENT_LOG_MAX_BYTES) to be read again from any point. It does not replace the consumer
 * groups' work queues; views (projections, common/projections/) are built from it.
 */

export interface LogRetention {
  /** A RabbitMQ duration: `400D`, `12h`. */
  maxAge: string;
  /** 0: no size limit. */
  maxBytes: number;
  segmentBytes: number;
}

/** How the log is laid out: its retention and its partition count. */
export interface LogSettings extends LogRetention {
  partitions: number;
}

/** The partition count does not match the streams the broker has. */
export class PartitionCountError extends Error {
  override name = 'PartitionCountError';
}

/** Whether a passive declare finds what it checks, on a channel of its own (a miss closes it). */
async function found(
  open: () => Promise<Channel>,
  check: (ch: Channel) => Promise<unknown>,
): Promise<boolean> {
  const ch = await open();
  ch.on('error', () => {});
  try {
    await check(ch);
    await ch.close().catch(() => {});
    return true;
  } catch (err) {
    if ((err as { code?: number }).code === 404) return false;
    throw err;
  }
}

const queueExists = (open: () => Promise<Channel>, name: string) => found(open, (ch) => ch.checkQueue(name));
const exchangeExists = (open: () => Promise<Channel>, name: string) =>
  found(open, (ch) => ch.checkExchange(name));

/** How many partition streams the broker has now (p0, p1, ... without a gap). */
export async function existingPartitions(model: ChannelModel, broker: Broker): Promise<number> {
  let n = 0;
  const open = () => model.createChannel();
  while (n <= MAX_PARTITIONS && (await queueExists(open, broker.name(partitionStream(n))))) n++;
  return n;
}

/** Whether the single stream of the layout before partitions is still there. */
export async function legacyLogExists(broker: Broker): Promise<boolean> {
  return queueExists(() => broker.channel(), broker.name(LEGACY_STREAM));
}

/**
 * Declares the partitions and routes every event to its own: a headers exchange bound to
 * `music.events` for every event type, each partition's stream bound to it by the partition
 * header. A log that has another number of partitions than `settings.partitions` is refused:
 * moving keys between partitions is an operation of its own (docs/ARCHITECTURE.md), never a
 * side effect of a restart. A stream that exists with other retention arguments is used as it
 * is (declaring it again would fail and close the channel), with a warning saying how to change
 * the retention of a live stream (a policy). The legacy single stream, if there, stops
 * receiving events and stays readable (its events are counted once: an event routed to both
 * while this runs has the same id in both).
 */
export async function declareEventLog(
  model: ChannelModel,
  broker: Broker,
  settings: LogSettings,
  log: Logger,
): Promise<{ partitions: number; legacy: boolean }> {
  const count = assertPartitionCount(settings.partitions);
  const marker = broker.name(partitionCountMarker(count));
  const open = () => model.createChannel();
  if (!(await exchangeExists(open, marker))) {
    if (await queueExists(open, broker.name(partitionStream(0)))) {
      const existing = await existingPartitions(model, broker);
      throw new PartitionCountError(
        `the event log has ${existing} partitions but EVENT_LOG_PARTITIONS is ${count}: set it back to ${existing}, or change the count as docs/ARCHITECTURE.md ("Changing the partition count") says`,
      );
    }
    // A log made afresh: its count first, so a process with another count started meanwhile refuses.
    const ch = await open();
    await ch.assertExchange(marker, 'fanout', { durable: true });
    await ch.close();
  }
  const args: Record<string, unknown> = {
    'x-queue-type': 'stream',
    'x-max-age': settings.maxAge,
    'x-stream-max-segment-size-bytes': settings.segmentBytes,
  };
  if (settings.maxBytes > 0) args['x-max-length-bytes'] = settings.maxBytes;
  const exchange = broker.name(PARTITIONS_EXCHANGE);
  const ch = await model.createChannel();
  ch.on('error', () => {});
  try {
    await ch.assertExchange(broker.name(EVENTS_EXCHANGE), 'topic', { durable: true });
    await ch.assertExchange(broker.name(UNKEYED_EXCHANGE), 'fanout', { durable: true });
    await ch.assertExchange(exchange, 'headers', {
      durable: true,
      alternateExchange: broker.name(UNKEYED_EXCHANGE),
    });
    await ch.bindExchange(exchange, broker.name(EVENTS_EXCHANGE), '#');
  } finally {
    await ch.close().catch(() => {});
  }
  // Each partition on channels of its own, all at once: a start costs a few round trips to the
  // broker, not a few per partition (the broker is busiest when a worker is started again).
  const declarePartition = async (partition: number) => {
    const name = broker.name(partitionStream(partition));
    const stream = await model.createChannel();
    stream.on('error', () => {});
    try {
      await stream.assertQueue(name, { durable: true, arguments: args });
    } catch (err) {
      if ((err as { code?: number }).code !== 406) throw err;
      log.warn(
        { stream: name, err: (err as Error).message },
        'an event log partition exists with other retention settings; it is kept as it is (change a live stream with a policy: rabbitmqctl set_policy)',
      );
    }
    const bind = await model.createChannel();
    await bind.bindQueue(name, exchange, '', { 'x-match': 'all', [PARTITION_HEADER]: String(partition) });
    if (partition === 0) await bind.bindQueue(name, broker.name(UNKEYED_EXCHANGE), '');
    await bind.close();
    await stream.close().catch(() => {});
  };
  await Promise.all(partitionNumbers(count).map(declarePartition));
  const legacy = await queueExists(() => model.createChannel(), broker.name(LEGACY_STREAM));
  if (legacy) {
    const unbind = await model.createChannel();
    await unbind.unbindQueue(broker.name(LEGACY_STREAM), broker.name(EVENTS_EXCHANGE), '#');
    await unbind.close();
  }
  return { partitions: count, legacy };
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
  /** The partition to read (LEGACY_PARTITION: the stream of the single-stream layout). */
  partition: number;
  from: LogPosition;
  /** The consumer's tag as the management UI shows it (default: the broker's). */
  consumerTag?: string;
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
      this.opts.broker.name(partitionStream(this.opts.partition)),
      (msg) => {
        if (msg) this.onMessage(msg);
        else this.end(new Error('the event log consumer was cancelled'));
      },
      {
        noAck: false,
        arguments: { 'x-stream-offset': offsetArgument(this.opts.from) },
        ...(this.opts.consumerTag ? { consumerTag: this.opts.consumerTag } : {}),
      },
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

/** How long a read of a partition's end waits for a first event before calling it empty. */
export interface EdgeOptions {
  /**
   * The caller knows the partition holds events (an offset of it is stored): it is never
   * called empty, however long its first delivery takes (up to 10 s).
   */
  nonEmpty?: boolean;
  /** Wait for a partition that may be empty (default 500 ms). */
  emptyAfterMs?: number;
}

/** The longest a read of a partition's end waits for events it knows are there. */
const EDGE_TIMEOUT_MS = 10_000;

/**
 * Offsets of the oldest and newest events a partition holds now, or null when it is empty.
 * A partition is called empty only when nothing arrives within `emptyAfterMs` and nothing says
 * it holds events: neither the caller (`nonEmpty`) nor the broker's message count (a few
 * seconds late, but a stream that held an event always holds one), so a partition slow to
 * deliver on a loaded broker is waited for rather than read as empty.
 */
export async function logBounds(
  broker: Broker,
  partition: number,
  opts: EdgeOptions = {},
): Promise<{ first: number; last: number } | null> {
  const nonEmpty = opts.nonEmpty || (await holdsEvents(broker, partition));
  const first = await edgeOffset(broker, partition, 'first', { ...opts, nonEmpty });
  if (first === undefined) return null;
  return { first, last: (await edgeOffset(broker, partition, 'last', { ...opts, nonEmpty: true })) ?? first };
}

/**
 * The offset of the first event of a partition's newest chunk (at most a chunk before its
 * newest event), or null when it is empty: one delivery, so it answers as soon as the broker
 * does, where the newest event itself is known only once the log goes quiet.
 */
export async function logTail(
  broker: Broker,
  partition: number,
  opts: EdgeOptions = {},
): Promise<number | null> {
  const nonEmpty = opts.nonEmpty || (await holdsEvents(broker, partition));
  return (await edgeOffset(broker, partition, 'tail', { ...opts, nonEmpty })) ?? null;
}

/** Whether the broker counts events in a partition's stream (its count lags by a few seconds). */
async function holdsEvents(broker: Broker, partition: number): Promise<boolean> {
  const ch = await broker.channel();
  ch.on('error', () => {});
  try {
    const { messageCount } = await ch.checkQueue(broker.name(partitionStream(partition)));
    return messageCount > 0;
  } catch {
    return false;
  } finally {
    await ch.close().catch(() => {});
  }
}

/**
 * Reads from one end of the log: from `first`, the first offset delivered; from `tail`, the
 * first offset delivered from the start of the newest chunk; from `last`, the largest one
 * delivered from there before the log goes quiet.
 */
async function edgeOffset(
  broker: Broker,
  partition: number,
  from: 'first' | 'last' | 'tail',
  opts: EdgeOptions,
): Promise<number | undefined> {
  const ch = await broker.channel();
  let seen: number | undefined;
  let heardAt = 0;
  const emptyAfter = opts.nonEmpty ? EDGE_TIMEOUT_MS : (opts.emptyAfterMs ?? 500);
  try {
    await ch.prefetch(from === 'last' ? 1000 : 1);
    await ch.consume(
      broker.name(partitionStream(partition)),
      (msg) => {
        if (!msg) return;
        const offset = Number(msg.properties.headers?.['x-stream-offset']);
        seen =
          seen === undefined ? offset : from === 'last' ? Math.max(seen, offset) : Math.min(seen, offset);
        heardAt = Date.now();
        ch.ack(msg);
      },
      { noAck: false, arguments: { 'x-stream-offset': from === 'tail' ? 'last' : from } },
    );
    const started = Date.now();
    // Nothing within `emptyAfter`: the log is empty. From `last`, read on until it is quiet
    // for 300 ms (on a loaded machine, with partitions read side by side, 100 ms gaps came
    // mid-chunk).
    for (;;) {
      await new Promise((r) => setTimeout(r, from === 'last' ? 20 : 2));
      if (
        seen === undefined ? Date.now() - started > emptyAfter : from !== 'last' || Date.now() - heardAt > 300
      )
        break;
      if (Date.now() - started > EDGE_TIMEOUT_MS) break;
    }
  } finally {
    await ch.close().catch(() => {});
  }
  return seen;
}

/** The newest offset of each of `partitions` that holds an event, read side by side. */
export async function logEnds(
  broker: Broker,
  partitions: readonly number[],
  /** Partitions known to hold events (a projection stored an offset of them). */
  nonEmpty: ReadonlySet<number> = new Set(),
): Promise<Map<number, number>> {
  const ends = new Map<number, number>();
  await Promise.all(
    partitions.map(async (p) => {
      const bounds = await logBounds(broker, p, { nonEmpty: nonEmpty.has(p) });
      if (bounds) ends.set(p, bounds.last);
    }),
  );
  return ends;
}
