import type { Logger } from 'pino';
import type { Broker } from '../amqp/broker.js';
import { dropSchema, migrate } from '../db/migrate.js';
import { assertSchemaName, createPool, type Pool, type PoolClient } from '../db/pool.js';
import { type ErrorTranslator, UnavailableError } from '../errors.js';
import { type LogPosition, LogReader, legacyLogExists, logTail } from '../events/log.js';
import {
  assertPartitionCount,
  LEGACY_PARTITION,
  partitionLabel,
  partitionNumbers,
} from '../events/partitions.js';
import type { Projection } from './projection.js';
import { type ApplyCounts, ProjectionApplier, storedOffset } from './runner.js';

export interface ReplayProgress {
  phase: 'replaying' | 'swapping' | 'done';
  /** Events of the log read and applied (or passed: other types) so far. */
  applied: number;
  /** Events between the start and the end of the log when the replay began (null: unknown). */
  total: number | null;
  ratePerSecond: number;
  etaSeconds: number | null;
  /** Partitions read to the end the log had when the replay began. */
  partitionsDone: number;
  partitions: number;
}

export interface ReplayOptions {
  projection: Projection;
  broker: Broker;
  databaseUrl: string;
  /** The service's schema, where the live projection's tables and offsets are. */
  schema: string;
  /** The event log's partition count (EVENT_LOG_PARTITIONS). */
  partitions: number;
  /** Batches applied at once, each on a connection of its own (default: one per partition). */
  concurrency?: number;
  /**
   * Records per batch (default REPLAY_BATCH_SIZE, or the projection's own when larger): a
   * rebuild reads a backlog, where a larger batch aggregates more rows into one and costs
   * fewer statements per event.
   */
  batchSize?: number;
  /** Where each partition starts (default: the oldest event it holds). */
  from?: LogPosition;
  logger: Logger;
  translateError?: ErrorTranslator;
  maxAttempts?: number;
  dedupWindowMs?: number;
  onProgress?: (progress: ReplayProgress) => void;
  /** How long the swap may wait for the rebuild to reach the live projection (default 60 s). */
  swapTimeoutMs?: number;
  /** Start afresh even when an interrupted replay left its tables behind. */
  restart?: boolean;
}

export interface ReplayResult {
  projection: string;
  /** Events applied into the rebuilt tables (this run and any interrupted one it resumed). */
  applied: number;
  rejected: number;
  /**
   * Per partition (`p0`, ..., `legacy`): the offset the swapped-in tables are up to; the live
   * projection goes on from the next.
   */
  offsets: Record<string, number>;
  /** Whether it resumed an interrupted replay. */
  resumed: boolean;
  durationMs: number;
  /**
   * When each phase ended, in ms from the start: migrate (the rebuild's tables, beside the
   * first reads), bulk (read to the log's end), swap, drop.
   */
  phases: Record<string, number>;
  notes: string[];
}

/** Records per batch of a rebuild, unless the projection's own batches are larger. */
export const REPLAY_BATCH_SIZE = 2000;

/** The schema a replay of `projection` builds in, beside the service's. */
function rebuildSchema(schema: string, projection: string): string {
  return assertSchemaName(`${schema}_rb_${projection.replace(/[^a-z0-9_]/g, '_')}`.slice(0, 63));
}

/**
 * Rebuilds a projection from the event log into fresh tables while the live one keeps
 * serving, then swaps them in and lets the live one go on from where the rebuild ended:
 *
 * 1. Build in a schema of its own (the projection's migrations, applied afresh while the
 *    readers already fetch the first events), reading every partition of the log at once from
 *    `from`, with the same applier the live projection uses (batches of several partitions
 *    commit side by side, as the live leaders' do); each partition's offset is stored with the
 *    tables, so a replay that is killed resumes where it stopped.
 * 2. Once every partition is read up to where the log was when the replay began (the newest
 *    chunk's start, or further if the live projection was), lock the live projection's offsets
 *    of every partition (which pauses live applying: every live batch takes its partition's
 *    lock first), read on until the rebuild has applied each partition at least as far as the
 *    live one, and in that one transaction drop the live tables, move the rebuilt ones in and
 *    store the rebuild's offsets as the live ones.
 *
 * Events arriving during the rebuild are in it when they precede the swap, and applied live
 * after it otherwise: none is applied twice or missed.
 */
export async function replayProjection(opts: ReplayOptions): Promise<ReplayResult> {
  const started = performance.now();
  const { projection, broker, schema } = opts;
  const log = opts.logger.child({ module: 'replay', projection: projection.name });
  const rbSchema = rebuildSchema(schema, projection.name);
  const live = createPool({
    url: opts.databaseUrl,
    schema,
    max: 2,
    applicationName: `replay-${projection.name}`,
  });
  const rebuild = createPool({
    url: opts.databaseUrl,
    schema: rbSchema,
    max: Math.max(1, opts.concurrency ?? assertPartitionCount(opts.partitions)),
    applicationName: `replay-${projection.name}`,
  });
  const guard = await live.connect();
  const lockKey = `replay:${schema}:${projection.name}`;
  const notes: string[] = [];
  const phases: Record<string, number> = {};
  const lap = (phase: string) => {
    phases[phase] = Math.round(performance.now() - started);
  };
  try {
    const { rows } = await guard.query<{ ok: boolean }>('SELECT pg_try_advisory_lock(hashtext($1)) AS ok', [
      lockKey,
    ]);
    if (!rows[0]?.ok) throw new UnavailableError(`a replay of ${projection.name} is already running`);
    try {
      const exists =
        (await live.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [rbSchema])).rowCount === 1;
      if (exists && opts.restart) await dropSchema(live, rbSchema);
      const resuming = exists && !opts.restart;
      const partitions = [
        ...((await legacyLogExists(broker)) ? [LEGACY_PARTITION] : []),
        ...partitionNumbers(assertPartitionCount(opts.partitions)),
      ];
      // A fresh rebuild reads while its tables are made; a resumed one needs its offsets first.
      const migrated = prepareTables(rebuild, rbSchema, projection, partitions).then(() => lap('migrate'));
      migrated.catch(() => {});
      if (resuming) await migrated;
      const stored = new Map<number, number>();
      for (const partition of partitions)
        stored.set(partition, resuming ? await storedOffset(rebuild, projection.name, partition) : -1);
      const liveOffsets = await offsetsOf(live, projection.name);
      const plans = partitions.map((partition): PartitionPlan => {
        const resumed = stored.get(partition)!;
        return {
          partition,
          from: resumed >= 0 ? { offset: resumed + 1 } : (opts.from ?? 'first'),
          resumed: resumed >= 0,
          stored: resumed,
          live: liveOffsets.get(partition) ?? -1,
        };
      });
      const resumed = plans.some((p) => p.resumed);
      if (resumed) notes.push('resumed an interrupted replay');
      const result = await build({ ...opts, log, live, rebuild, rbSchema, plans, migrated, lap });
      for (const b of result.builds) {
        if (b.plan.from === 'first' && b.firstOffset !== undefined && b.firstOffset > 0) {
          notes.push(
            `${partitionLabel(b.plan.partition)} starts at offset ${b.firstOffset}: older events are gone (EVENT_LOG_MAX_AGE, EVENT_LOG_MAX_BYTES)`,
          );
        }
      }
      return {
        projection: projection.name,
        applied: result.applied,
        rejected: result.rejected,
        offsets: result.offsets,
        resumed,
        durationMs: Math.round(performance.now() - started),
        phases,
        notes,
      };
    } finally {
      await guard.query('SELECT pg_advisory_unlock(hashtext($1))', [lockKey]).catch(() => {});
    }
  } finally {
    guard.release();
    await Promise.all([live.end(), rebuild.end()]);
  }
}

/** The rebuild's tables (the projection's migrations) and a stored offset row per partition. */
async function prepareTables(
  rebuild: Pool,
  rbSchema: string,
  projection: Projection,
  partitions: readonly number[],
): Promise<void> {
  await migrate(rebuild, rbSchema, projection.migrations);
  await rebuild.query(
    `INSERT INTO projection_offsets (projection, log_partition, last_offset)
     SELECT $1, p, -1 FROM unnest($2::int[]) AS p ON CONFLICT DO NOTHING`,
    [projection.name, partitions],
  );
}

/** A projection's stored offset in every partition (none: the table or its rows are not there yet). */
async function offsetsOf(db: Pool, projection: string): Promise<Map<number, number>> {
  const { rows } = await db
    .query<{ log_partition: number; last_offset: string }>(
      'SELECT log_partition, last_offset FROM projection_offsets WHERE projection = $1',
      [projection],
    )
    .catch(() => ({ rows: [] as Array<{ log_partition: number; last_offset: string }> }));
  return new Map(rows.map((r) => [r.log_partition, Number(r.last_offset)]));
}

interface PartitionPlan {
  partition: number;
  from: LogPosition;
  resumed: boolean;
  /** The offset the rebuild's tables are up to (-1: none yet). */
  stored: number;
  /** The live projection's offset when the replay began (-1: none). */
  live: number;
}

interface BuildContext extends ReplayOptions {
  log: Logger;
  live: Pool;
  rebuild: Pool;
  rbSchema: string;
  plans: PartitionPlan[];
  /** Resolves once the rebuild's tables are there. */
  migrated: Promise<void>;
  /** Marks the end of a phase of the replay (ReplayResult.phases, ms from the start). */
  lap: (phase: string) => void;
}

/** One partition's reader of a rebuild, and how far it got. */
class PartitionBuild {
  offset: number;
  read = 0;
  /** The first offset read (undefined: none yet). */
  firstOffset: number | undefined;
  /**
   * Where the bulk reads to before the swap: the start of the partition's newest chunk when
   * the replay began, or the live projection's offset if further (null: not known yet).
   */
  target: number | null = null;
  readonly reader: LogReader;
  private wanted = Number.POSITIVE_INFINITY;
  private reached: (() => void) | null = null;

  constructor(
    readonly plan: PartitionPlan,
    ctx: BuildContext,
    onBatch: (counts: ApplyCounts, records: number) => void,
  ) {
    this.offset = plan.stored;
    const applier = new ProjectionApplier(
      ctx.projection,
      plan.partition,
      ctx.log,
      ctx.translateError,
      ctx.maxAttempts,
      ctx.dedupWindowMs,
    );
    this.reader = new LogReader({
      broker: ctx.broker,
      logger: ctx.log,
      partition: plan.partition,
      from: plan.from,
      batchSize: ctx.batchSize ?? Math.max(REPLAY_BATCH_SIZE, ctx.projection.batchSize ?? 0),
      onBatch: async (records) => {
        this.firstOffset ??= records[0]!.offset;
        await ctx.migrated;
        const client = await ctx.rebuild.connect();
        let broken = false;
        try {
          onBatch(await applier.apply(client, records), records.length);
        } catch (err) {
          broken = true;
          throw err;
        } finally {
          client.release(broken);
        }
        this.read += records.length;
        this.offset = records[records.length - 1]!.offset;
        if (this.offset >= this.wanted) this.reached?.();
      },
    });
  }

  get done(): boolean {
    return this.target !== null && this.offset >= this.target;
  }

  /** Resolves once the partition is applied up to `target` (0: no time limit). */
  async until(target: number, timeoutMs: number): Promise<void> {
    this.wanted = target;
    if (this.offset >= target) return;
    await new Promise<void>((resolve, reject) => {
      this.reached = resolve;
      const timer =
        timeoutMs > 0
          ? setTimeout(() => reject(new UnavailableError('the event log stopped delivering')), timeoutMs)
          : null;
      this.reader.closed.then((reason) => reject(reason ?? new Error('the replay stopped reading')));
      this.reader.closed.finally(() => timer && clearTimeout(timer));
    });
  }
}

async function build(ctx: BuildContext): Promise<{
  applied: number;
  rejected: number;
  offsets: Record<string, number>;
  builds: PartitionBuild[];
}> {
  const { projection, log } = ctx;
  let applied = 0;
  let rejected = 0;
  const began = performance.now();
  const builds: PartitionBuild[] = [];
  const progress = (phase: ReplayProgress['phase']) => {
    const read = builds.reduce((sum, b) => sum + b.read, 0);
    const known = builds.every((b) => b.target !== null);
    // Offsets count events (bar the odd gap), from the first one read.
    const total = known
      ? builds.reduce((sum, b) => sum + b.read + Math.max(0, b.target! - b.offset), 0)
      : null;
    const seconds = (performance.now() - began) / 1000;
    const rate = seconds > 0 ? read / seconds : 0;
    const left = total === null ? null : total - read;
    ctx.onProgress?.({
      phase,
      applied: read,
      total,
      ratePerSecond: Math.round(rate),
      etaSeconds:
        phase === 'done' ? 0 : rate > 0 && left !== null && left > 0 ? Math.ceil(left / rate) : null,
      partitionsDone: builds.filter((b) => b.done).length,
      partitions: builds.length,
    });
  };
  for (const plan of ctx.plans) {
    builds.push(
      new PartitionBuild(plan, ctx, (counts) => {
        applied += counts.applied;
        rejected += counts.rejected;
        progress('replaying');
      }),
    );
  }
  const stopAll = () => Promise.all(builds.map((b) => b.reader.stop()));
  try {
    await Promise.all(builds.map((b) => b.reader.start()));
    // The bulk, every partition at once, while the live projection goes on; each partition's
    // end is looked up beside its reading (one delivery from its newest chunk).
    await Promise.all(
      builds.map(async (b) => {
        const tail = await logTail(ctx.broker, b.plan.partition, {
          nonEmpty: b.plan.live >= 0 || b.plan.resumed,
        });
        b.target = Math.max(tail ?? -1, b.plan.live);
        await b.until(b.target, 0);
      }),
    );
    await ctx.migrated;
    ctx.lap('bulk');
    progress('swapping');
    const liveClient = await ctx.live.connect();
    let offsets: Record<string, number>;
    try {
      await liveClient.query('BEGIN');
      const partitions = ctx.plans.map((p) => p.partition);
      await liveClient.query(
        `INSERT INTO projection_offsets (projection, log_partition, last_offset)
         SELECT $1, p, -1 FROM unnest($2::int[]) AS p ON CONFLICT DO NOTHING`,
        [projection.name, partitions],
      );
      // Every partition's row, in one order (live batches each take one of them).
      const { rows } = await liveClient.query<{ log_partition: number; last_offset: string }>(
        `SELECT log_partition, last_offset FROM projection_offsets WHERE projection = $1
         ORDER BY log_partition FOR UPDATE`,
        [projection.name],
      );
      const liveOffsets = new Map(rows.map((r) => [r.log_partition, Number(r.last_offset)]));
      // Live applying waits here; the rebuild reads on to where the live one got.
      await Promise.all(
        builds.map((b) => b.until(liveOffsets.get(b.plan.partition) ?? -1, ctx.swapTimeoutMs ?? 60_000)),
      );
      await stopAll();
      offsets = await swap(liveClient, ctx);
      await liveClient.query('COMMIT');
    } catch (err) {
      await liveClient.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      liveClient.release();
    }
    ctx.lap('swap');
    await dropSchema(ctx.live, ctx.rbSchema);
    ctx.lap('drop');
    progress('done');
    log.info({ applied, offsets }, 'replayed and swapped in');
    return { applied, rejected, offsets, builds };
  } finally {
    await stopAll();
  }
}

/**
 * Replaces the live tables by the rebuilt ones, with the rebuild's offsets, rejects and seen
 * event ids, in few round trips (the live projection waits meanwhile). The seen ids are
 * brought to the rebuild's by their difference: after a replay from the start they are mostly
 * the same ids, which then cost a lookup each rather than a delete and an insert.
 */
async function swap(client: PoolClient, ctx: BuildContext): Promise<Record<string, number>> {
  const live = ctx.schema;
  const rb = ctx.rbSchema;
  const name = client.escapeLiteral(ctx.projection.name);
  const moves = ctx.projection.tables.map(
    (table) => `DROP TABLE IF EXISTS ${live}.${table}; ALTER TABLE ${rb}.${table} SET SCHEMA ${live};`,
  );
  await client.query(
    `${moves.join(' ')}
     DELETE FROM projection_rejects WHERE projection = ${name};
     INSERT INTO projection_rejects SELECT * FROM ${rb}.projection_rejects WHERE projection = ${name};
     DELETE FROM projection_seen l WHERE l.projection = ${name} AND NOT EXISTS
       (SELECT 1 FROM ${rb}.projection_seen r WHERE r.projection = ${name} AND r.event_id = l.event_id);
     INSERT INTO projection_seen SELECT * FROM ${rb}.projection_seen WHERE projection = ${name}
       ON CONFLICT DO NOTHING;`,
  );
  const { rows } = await client.query<{ log_partition: number; last_offset: string }>(
    `UPDATE projection_offsets l SET last_offset = r.last_offset, applied = r.applied, updated_at = now()
     FROM ${rb}.projection_offsets r
     WHERE l.projection = $1 AND r.projection = $1 AND r.log_partition = l.log_partition
     RETURNING l.log_partition, l.last_offset`,
    [ctx.projection.name],
  );
  return Object.fromEntries(rows.map((r) => [partitionLabel(r.log_partition), Number(r.last_offset)]));
}
