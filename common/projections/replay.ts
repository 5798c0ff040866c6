import type { Logger } from 'pino';
import type { Broker } from '../amqp/broker.js';
import { dropSchema, migrate } from '../db/migrate.js';
import { assertSchemaName, createPool, type Pool, type PoolClient } from '../db/pool.js';
import { type ErrorTranslator, UnavailableError } from '../errors.js';
import { type LogPosition, LogReader, logBounds } from '../events/log.js';
import type { Projection } from './projection.js';
import { ProjectionApplier, storedOffset } from './runner.js';

export interface ReplayProgress {
  phase: 'replaying' | 'swapping' | 'done';
  /** Events of the log read and applied (or passed: other types) so far. */
  applied: number;
  /** Events between the start and the end of the log when the replay began (null: unknown). */
  total: number | null;
  ratePerSecond: number;
  etaSeconds: number | null;
  offset: number;
}

export interface ReplayOptions {
  projection: Projection;
  broker: Broker;
  databaseUrl: string;
  /** The service's schema, where the live projection's tables and offset are. */
  schema: string;
  /** Where to start (default: the oldest event the log holds). */
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
  /** The oldest event the log held: a replay from the start begins there. */
  logStart: number | null;
  /** The offset the swapped-in tables are up to; the live projection goes on from the next. */
  offset: number;
  resumedAt: number | null;
  durationMs: number;
  notes: string[];
}

/** The schema a replay of `projection` builds in, beside the service's. */
function rebuildSchema(schema: string, projection: string): string {
  return assertSchemaName(`${schema}_rb_${projection.replace(/[^a-z0-9_]/g, '_')}`.slice(0, 63));
}

/**
 * Rebuilds a projection from the event log into fresh tables while the live one keeps
 * serving, then swaps them in and lets the live one go on from where the rebuild ended:
 *
 * 1. Build in a schema of its own (the projection's migrations, applied afresh), reading the
 *    log from `from` with the same applier the live projection uses; its offset is stored with
 *    its tables, so a replay that is killed resumes where it stopped.
 * 2. Once it has read to the end the log had when it began, lock the live projection's offset
 *    (which pauses live applying: every live batch takes that lock first), read on until the
 *    rebuild has applied at least as far as the live one, and in that one transaction drop
 *    the live tables, move the rebuilt ones in and store the rebuild's offset as the live one.
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
    max: 2,
    applicationName: `replay-${projection.name}`,
  });
  const guard = await live.connect();
  const lockKey = `replay:${schema}:${projection.name}`;
  const notes: string[] = [];
  try {
    const { rows } = await guard.query<{ ok: boolean }>('SELECT pg_try_advisory_lock(hashtext($1)) AS ok', [
      lockKey,
    ]);
    if (!rows[0]?.ok) throw new UnavailableError(`a replay of ${projection.name} is already running`);
    try {
      const exists =
        (await live.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [rbSchema])).rowCount === 1;
      if (exists && opts.restart) await dropSchema(live, rbSchema);
      await migrate(rebuild, rbSchema, projection.migrations);
      const resumed = exists && !opts.restart ? await storedOffset(rebuild, projection.name) : -1;
      if (resumed >= 0) notes.push(`resumed an interrupted replay after offset ${resumed}`);
      const bounds = await logBounds(broker);
      const from: LogPosition = resumed >= 0 ? { offset: resumed + 1 } : (opts.from ?? 'first');
      if (bounds && from === 'first' && bounds.first > 0) {
        notes.push(
          `the log starts at offset ${bounds.first}: older events are gone (EVENT_LOG_MAX_AGE, EVENT_LOG_MAX_BYTES)`,
        );
      }
      const startOffset =
        resumed >= 0
          ? resumed + 1
          : typeof from === 'object' && 'offset' in from
            ? from.offset
            : (bounds?.first ?? 0);
      const total = bounds ? Math.max(0, bounds.last - startOffset + 1) : 0;
      const result = await build({
        ...opts,
        log,
        live,
        rebuild,
        rbSchema,
        from,
        total,
        target: bounds?.last ?? -1,
      });
      return {
        projection: projection.name,
        applied: result.applied,
        rejected: result.rejected,
        logStart: bounds?.first ?? null,
        offset: result.offset,
        resumedAt: resumed >= 0 ? resumed : null,
        durationMs: Math.round(performance.now() - started),
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

interface BuildContext extends ReplayOptions {
  log: Logger;
  live: Pool;
  rebuild: Pool;
  rbSchema: string;
  from: LogPosition;
  total: number;
  /** The newest offset when the replay began: reading reaches it before the swap. */
  target: number;
}

async function build(ctx: BuildContext): Promise<{ applied: number; rejected: number; offset: number }> {
  const { projection, log } = ctx;
  const applier = new ProjectionApplier(
    projection,
    log,
    ctx.translateError,
    ctx.maxAttempts,
    ctx.dedupWindowMs,
  );
  const rb = await ctx.rebuild.connect();
  let read = 0;
  let applied = 0;
  let rejected = 0;
  let offset = await storedOffset(rb, projection.name);
  const began = performance.now();
  const progress = (phase: ReplayProgress['phase']) => {
    const seconds = (performance.now() - began) / 1000;
    const rate = seconds > 0 ? read / seconds : 0;
    const left = ctx.total - read;
    ctx.onProgress?.({
      phase,
      applied: read,
      total: ctx.total,
      ratePerSecond: Math.round(rate),
      etaSeconds: rate > 0 && left > 0 ? Math.ceil(left / rate) : phase === 'done' ? 0 : null,
      offset,
    });
  };
  let reached: (() => void) | null = null;
  let wanted = ctx.target;
  const reader = new LogReader({
    broker: ctx.broker,
    logger: log,
    from: ctx.from,
    batchSize: projection.batchSize ?? 500,
    onBatch: async (records) => {
      const counts = await applier.apply(rb, records);
      read += records.length;
      applied += counts.applied;
      rejected += counts.rejected;
      offset = records[records.length - 1]!.offset;
      progress('replaying');
      if (offset >= wanted) reached?.();
    },
  });
  let broken = false;
  try {
    await reader.start();
    const until = async (target: number, timeoutMs: number) => {
      wanted = target;
      if (offset >= target) return;
      await new Promise<void>((resolve, reject) => {
        reached = resolve;
        const timer =
          timeoutMs > 0
            ? setTimeout(() => reject(new UnavailableError('the event log stopped delivering')), timeoutMs)
            : null;
        reader.closed.then((reason) => reject(reason ?? new Error('the replay stopped reading')));
        reader.closed.finally(() => timer && clearTimeout(timer));
      });
    };
    // The bulk, while the live projection goes on.
    await until(ctx.target, 0);
    progress('swapping');
    const liveClient = await ctx.live.connect();
    try {
      await liveClient.query('BEGIN');
      await liveClient.query(
        'INSERT INTO projection_offsets (projection, last_offset) VALUES ($1, -1) ON CONFLICT DO NOTHING',
        [projection.name],
      );
      const { rows } = await liveClient.query<{ last_offset: string }>(
        'SELECT last_offset FROM projection_offsets WHERE projection = $1 FOR UPDATE',
        [projection.name],
      );
      // Live applying waits here; the rebuild reads on to where the live one got.
      await until(Number(rows[0]!.last_offset), ctx.swapTimeoutMs ?? 60_000);
      await reader.stop();
      const final = await storedOffset(rb, projection.name);
      await swap(liveClient, ctx, final);
      await liveClient.query('COMMIT');
      offset = final;
    } catch (err) {
      await liveClient.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      liveClient.release();
    }
    await dropSchema(ctx.live, ctx.rbSchema);
    progress('done');
    log.info({ applied, offset }, 'replayed and swapped in');
    return { applied, rejected, offset };
  } catch (err) {
    broken = true;
    throw err;
  } finally {
    await reader.stop();
    rb.release(broken);
  }
}

/** Replaces the live tables by the rebuilt ones, with the rebuild's offset and rejects. */
async function swap(client: PoolClient, ctx: BuildContext, offset: number): Promise<void> {
  const live = ctx.schema;
  const rb = ctx.rbSchema;
  for (const table of ctx.projection.tables) {
    await client.query(`DROP TABLE IF EXISTS ${live}.${table}`);
    await client.query(`ALTER TABLE ${rb}.${table} SET SCHEMA ${live}`);
  }
  await client.query(
    `UPDATE projection_offsets SET last_offset = $2, updated_at = now(),
       applied = (SELECT applied FROM ${rb}.projection_offsets WHERE projection = $1)
     WHERE projection = $1`,
    [ctx.projection.name, offset],
  );
  await client.query('DELETE FROM projection_rejects WHERE projection = $1', [ctx.projection.name]);
  await client.query(
    `INSERT INTO projection_rejects SELECT * FROM ${rb}.projection_rejects WHERE projection = $1`,
    [ctx.projection.name],
  );
  await client.query('DELETE FROM projection_seen WHERE projection = $1', [ctx.projection.name]);
  await client.query(
    `INSERT INTO projection_seen SELECT * FROM ${rb}.projection_seen WHERE projection = $1`,
    [ctx.projection.name],
  );
}
