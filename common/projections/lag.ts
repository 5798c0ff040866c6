import type { Broker } from '../amqp/broker.js';
import type { Pool, PoolClient } from '../db/pool.js';
import { legacyLogExists, logEnds } from '../events/log.js';
import {
  assertPartitionCount,
  LEGACY_PARTITION,
  partitionLabel,
  partitionNumbers,
} from '../events/partitions.js';
import { groupState } from './runner.js';

/** Where one projection stands in one partition of the event log. */
export interface PartitionStanding {
  projection: string;
  /** `p0`, `p1`, ..., or `legacy`. */
  partition: string;
  /** The last offset applied (-1: none). */
  offset: number;
  /** Events of the partition after `offset`: how far behind the log the projection is there. */
  lag: number;
  /** The worker (host:pid) leading the partition now, by the group's locks; null: none. */
  leader: string | null;
  /** The database backend pid of the leader's coordinator connection; null: none. */
  dbPid: number | null;
  /** Events applied in the partition since its offset row was made. */
  applied: number;
  updatedAt: string | null;
}

/**
 * The partitions of the event log now: the legacy stream while it still exists, then p0..pN-1.
 * Their newest offsets (a partition with no event is absent), read from the log's last chunks.
 */
export async function logPartitionEnds(
  broker: Broker,
  count: number,
  /** Where projections' offsets are (the schema `db` works in): partitions they read hold events. */
  db?: Pool | PoolClient,
): Promise<{ partitions: number[]; ends: Map<number, number> }> {
  const partitions = [
    ...((await legacyLogExists(broker)) ? [LEGACY_PARTITION] : []),
    ...partitionNumbers(assertPartitionCount(count)),
  ];
  return { partitions, ends: await logEnds(broker, partitions, db ? await readPartitions(db) : undefined) };
}

/** The partitions some projection has applied an event of: they are not empty, however slow to answer. */
async function readPartitions(db: Pool | PoolClient): Promise<Set<number>> {
  const { rows } = await db
    .query<{ log_partition: number }>(
      'SELECT DISTINCT log_partition FROM projection_offsets WHERE last_offset >= 0',
    )
    .catch(() => ({ rows: [] as Array<{ log_partition: number }> }));
  return new Set(rows.map((r) => r.log_partition));
}

/**
 * A projection's standing in every partition: the offset it applied (projection_offsets, in the
 * schema `db` works in), the lag behind `ends`, and its leader by the consumer group's locks.
 */
export async function projectionStandings(
  db: Pool | PoolClient,
  schema: string,
  projection: string,
  log: { partitions: readonly number[]; ends: ReadonlyMap<number, number> },
): Promise<PartitionStanding[]> {
  const { rows } = await db
    .query<{
      log_partition: number;
      last_offset: string;
      applied: string;
      leader: string | null;
      updated_at: Date;
    }>(
      'SELECT log_partition, last_offset, applied, leader, updated_at FROM projection_offsets WHERE projection = $1',
      [projection],
    )
    .catch(() => ({ rows: [] }));
  const stored = new Map(rows.map((r) => [r.log_partition, r]));
  const group = await groupState(db, schema, projection).catch(() => null);
  return log.partitions.map((partition) => {
    const row = stored.get(partition);
    const offset = row ? Number(row.last_offset) : -1;
    const last = log.ends.get(partition);
    const pid = group?.leaders.get(partition);
    return {
      projection,
      partition: partitionLabel(partition),
      offset,
      lag: last === undefined ? 0 : Math.max(0, last - offset),
      leader: pid === undefined ? null : (row?.leader ?? '?'),
      dbPid: pid ?? null,
      applied: row ? Number(row.applied) : 0,
      updatedAt: row?.updated_at.toISOString() ?? null,
    };
  });
}
