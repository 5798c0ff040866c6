import type { EventEnvelope } from './envelope.js';

/**
 * The event log's partitions: every fact about them (names, count, which event goes where)
 * lives here.
 *
 * The log is N RabbitMQ streams, `music.events.log.p0` .. `p<N-1>` (EVENT_LOG_PARTITIONS,
 * default 8), like the partitions of a Kafka topic. The publisher computes each event's
 * partition from its key and sends it in the `partition` header; a headers exchange bound to
 * `music.events` routes it to that partition's stream, in the same publish (and the same
 * confirm) as the consumer groups' queues.
 *
 * The stream of the single-stream layout (`music.events.log`) stays readable as the `legacy`
 * partition until it is deleted, so a system upgraded from it keeps its history.
 */
export const DEFAULT_PARTITIONS = 8;
/** The most partitions a log may have (each is a stream, a reader and a database connection). */
export const MAX_PARTITIONS = 256;

/** The single stream of the layout before partitions: read to its end, never written again. */
export const LEGACY_STREAM = 'music.events.log';
/** The partition number of the legacy stream in offsets and listings. */
export const LEGACY_PARTITION = -1;

/** The headers exchange that routes each event to its partition's stream. */
export const PARTITIONS_EXCHANGE = 'music.events.partitions';
/**
 * Where an event without a partition header goes (a raw publish, a publisher of the
 * single-stream layout): the headers exchange's alternate exchange, bound to partition 0, so
 * no event published to `music.events` misses the log.
 */
export const UNKEYED_EXCHANGE = 'music.events.partitions.unkeyed';
/**
 * A durable exchange that records the count the partitions were made with (nothing is routed
 * through it): a process configured with another count finds it missing and refuses to start,
 * while processes starting together with the same count find it at once.
 */
export function partitionCountMarker(count: number): string {
  return `music.events.log.partitions-${count}`;
}
/** The message header that names an event's partition (a decimal string). */
export const PARTITION_HEADER = 'partition';

/** The stream of one partition (the legacy partition's is the old single stream). */
export function partitionStream(partition: number): string {
  return partition === LEGACY_PARTITION ? LEGACY_STREAM : `${LEGACY_STREAM}.p${partition}`;
}

/** How a partition is shown: `p3`, or `legacy`. */
export function partitionLabel(partition: number): string {
  return partition === LEGACY_PARTITION ? 'legacy' : `p${partition}`;
}

/** The partitions 0 .. count-1. */
export function partitionNumbers(count: number): number[] {
  return Array.from({ length: count }, (_, i) => i);
}

/**
 * The data field whose value places an event, by type: all of one user's events go to one
 * partition, so they stay in order and per-user rows have one writer. An event of a type not
 * named here is placed by its id (spread evenly, no order kept).
 */
export const PARTITION_KEYS: Readonly<Record<string, string>> = {
  'track.played': 'userId',
  'user.registered': 'userId',
  'user.deleted': 'userId',
  'playlist.changed': 'ownerId',
  'playback.started': 'userId',
};

/** The key an event is placed by. */
export function partitionKey(envelope: Pick<EventEnvelope, 'id' | 'type' | 'data'>): string {
  const field = PARTITION_KEYS[envelope.type];
  const value =
    field && typeof envelope.data === 'object' && envelope.data !== null
      ? (envelope.data as Record<string, unknown>)[field]
      : undefined;
  return typeof value === 'string' || typeof value === 'number' ? String(value) : envelope.id;
}

/**
 * The partition of a key: FNV-1a (32 bits) of its UTF-8 bytes, modulo the count. Stable across
 * processes, versions and languages, which is all a partitioner needs.
 */
export function partitionOf(key: string, count: number): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(key, 'utf8')) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % count;
}

/** The partition an event goes to. */
export function partitionFor(envelope: Pick<EventEnvelope, 'id' | 'type' | 'data'>, count: number): number {
  return partitionOf(partitionKey(envelope), count);
}

/** The partition count from the configuration, checked. */
export function assertPartitionCount(count: number): number {
  if (!Number.isInteger(count) || count < 1 || count > MAX_PARTITIONS)
    throw new Error(`the event log's partition count must be 1..${MAX_PARTITIONS}, not ${count}`);
  return count;
}

/** Whether a queue (without namespace) is one of the event log's streams. */
export function isLogStream(name: string): boolean {
  return name === LEGACY_STREAM || /^music\.events\.log\.p\d+$/.test(name);
}
