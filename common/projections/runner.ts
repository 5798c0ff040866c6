import type { Logger } from 'pino';
import type { Broker } from '../amqp/broker.js';
import type { Pool, PoolClient } from '../db/pool.js';
import { prepared } from '../db/prepared.js';
import { type ErrorTranslator, isAppError } from '../errors.js';
import type { EventEnvelope } from '../events/envelope.js';
import { type LogPosition, LogReader, type LogRecord } from '../events/log.js';
import { type Projection, ProjectionBatch } from './projection.js';

export interface ApplyCounts {
  applied: number;
  /** Events of types the projection does not apply, and events it had applied already. */
  skipped: number;
  /** Events it could never apply (recorded in `projection_rejects`). */
  rejected: number;
}

const SELECT_OFFSET = 'SELECT last_offset FROM projection_offsets WHERE projection = $1';

/** The offset a projection has applied up to in the schema `db` works in (-1: nothing yet). */
export async function storedOffset(db: Pool | PoolClient, projection: string): Promise<number> {
  const { rows } = await db.query<{ last_offset: string }>(SELECT_OFFSET, [projection]);
  return rows[0] ? Number(rows[0].last_offset) : -1;
}

/**
 * Applies batches of log records to a projection's tables, each batch in one transaction that
 * also moves the projection's stored offset, so a record is applied exactly once however often
 * it is read. Records at or before the stored offset are skipped (a second reader, a replay
 * swapped in meanwhile); undecodable ones, and ones the projection refuses for good, are
 * recorded as rejected and passed. A failure that may pass (the database unreachable, an
 * unexpected error before `maxAttempts`) rolls the batch back and is thrown to the caller,
 * who reads again from the stored offset.
 */
export class ProjectionApplier {
  private failures = { offset: -1, count: 0 };
  private newest = 0;
  private prunedAt = 0;

  constructor(
    private readonly projection: Projection,
    private readonly log: Logger,
    private readonly translateError: ErrorTranslator = () => undefined,
    private readonly maxAttempts = 5,
    /** How long after it happened an event can be in the log again (a client's retry). */
    private readonly dedupWindowMs = 31 * 86_400_000,
  ) {}

  async apply(client: PoolClient, records: readonly LogRecord[]): Promise<ApplyCounts> {
    try {
      return await this.applyOnce(client, records, false);
    } catch (err) {
      // The batch as a whole can never be applied: again, one event at a time.
      if (err instanceof SplitBatch) return this.applyOnce(client, records, true);
      throw err;
    }
  }

  /**
   * One transaction. Asynchronous commit is safe here: the offset commits with the effects,
   * so a commit the database loses in a crash is a suffix of batches that are read again from
   * the log, and it spares the batch the wait for the WAL flush (the play was durable in the
   * log before it was applied).
   */
  private async applyOnce(
    client: PoolClient,
    records: readonly LogRecord[],
    oneByOne: boolean,
  ): Promise<ApplyCounts> {
    const counts: ApplyCounts = { applied: 0, skipped: 0, rejected: 0 };
    const { name } = this.projection;
    try {
      const last = await this.begin(client);
      const fresh = records.filter((r) => r.offset > last);
      counts.skipped += records.length - fresh.length;
      const decoded = this.decode(fresh);
      const { rejects } = decoded;
      const events = await this.firstTime(client, decoded.events);
      counts.skipped += fresh.length - events.length - rejects.length;
      if (events.length > 0) {
        const refused = await this.applyEvents(client, events, oneByOne);
        rejects.push(...refused);
        counts.applied = events.length - refused.length;
      }
      for (const reject of rejects) {
        await client.query(
          `INSERT INTO projection_rejects (projection, log_offset, event_id, type, reason) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT DO NOTHING`,
          [name, reject.offset, reject.id, reject.type, reject.reason.slice(0, 2000)],
        );
        this.log.error({ projection: name, offset: reject.offset, reason: reject.reason }, 'event rejected');
      }
      counts.rejected = rejects.length;
      // The offset's update and the commit go in one round trip (a simple query of two
      // statements: if the update fails, the commit is not run and the catch rolls back).
      const move =
        fresh.length > 0
          ? `UPDATE projection_offsets SET last_offset = ${Math.trunc(fresh[fresh.length - 1]!.offset)}, applied = applied + ${counts.applied}, updated_at = now()
             WHERE projection = ${client.escapeLiteral(name)}; `
          : '';
      await client.query(`${move}COMMIT`);
      this.failures = { offset: -1, count: 0 };
      return counts;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    }
  }

  /**
   * Opens the batch's transaction and locks the projection's offset row (a replay's swap
   * takes the same lock), in one round trip once the row exists; returns the stored offset.
   */
  private async begin(client: PoolClient): Promise<number> {
    const select = `SELECT last_offset FROM projection_offsets WHERE projection = ${client.escapeLiteral(this.projection.name)} FOR UPDATE`;
    const results = (await client.query(
      `BEGIN; SET LOCAL synchronous_commit = off; ${select}`,
    )) as unknown as Array<{ rows: Array<{ last_offset: string }> }>;
    let row = results[2]!.rows[0];
    if (!row) {
      await client.query(
        'INSERT INTO projection_offsets (projection, last_offset) VALUES ($1, -1) ON CONFLICT DO NOTHING',
        [this.projection.name],
      );
      row = (await client.query<{ last_offset: string }>(select)).rows[0]!;
    }
    return Number(row.last_offset);
  }

  /**
   * The events seen for the first time, recorded as seen in this transaction: an event that
   * is in the log twice (or twice in one batch) is applied once. Ids older than the window
   * (by when their events happened) are forgotten now and then.
   */
  private async firstTime(
    client: PoolClient,
    events: Array<EventEnvelope & { offset: number }>,
  ): Promise<Array<EventEnvelope & { offset: number }>> {
    if (events.length === 0) return events;
    const unique = [...new Map(events.map((e) => [e.id, e])).values()];
    const { rows } = await client.query<{ event_id: string }>(
      prepared(
        `INSERT INTO projection_seen (projection, event_id, occurred_at)
         SELECT $1, * FROM unnest($2::uuid[], $3::timestamptz[]) ON CONFLICT DO NOTHING RETURNING event_id`,
        [this.projection.name, unique.map((e) => e.id), unique.map((e) => e.occurredAt)],
      ),
    );
    const fresh = new Set(rows.map((r) => r.event_id));
    for (const e of unique) this.newest = Math.max(this.newest, Date.parse(e.occurredAt));
    if (this.newest - this.prunedAt > 3_600_000) {
      this.prunedAt = this.newest;
      await client.query('DELETE FROM projection_seen WHERE projection = $1 AND occurred_at < $2', [
        this.projection.name,
        new Date(this.newest - this.dedupWindowMs),
      ]);
    }
    return unique.filter((e) => fresh.has(e.id));
  }

  /** The records' events this projection applies, checked against their schemas. */
  private decode(records: readonly LogRecord[]): {
    events: Array<EventEnvelope & { offset: number }>;
    rejects: Reject[];
  } {
    const types = new Map(this.projection.events.map((e) => [e.type, e]));
    const events: Array<EventEnvelope & { offset: number }> = [];
    const rejects: Reject[] = [];
    for (const r of records) {
      if (!r.envelope) {
        rejects.push({ offset: r.offset, id: null, type: null, reason: r.problem ?? 'unreadable' });
        continue;
      }
      const { id, type, occurredAt } = r.envelope;
      const definition = types.get(type);
      if (!definition) continue;
      const data = definition.schema.safeParse(r.envelope.data);
      if (data.success) events.push({ id, type, occurredAt, data: data.data, offset: r.offset });
      else {
        const problems = data.error.issues
          .map((i) => `${i.path.join('.') || 'data'}: ${i.message}`)
          .join('; ');
        rejects.push({ offset: r.offset, id, type, reason: `bad ${type} data: ${problems}` });
      }
    }
    return { events, rejects };
  }

  /**
   * Applies the events as one batch (no savepoint: the common case pays nothing for the rare
   * one). When the batch fails for good because of a value the store cannot take, it throws
   * `SplitBatch` and the caller comes again in a new transaction with `oneByOne`; with
   * `oneByOne`, or after an unexpected error for the `maxAttempts`th time, it applies the
   * events one at a time, each in a savepoint, and returns the ones that fail as rejected.
   */
  private async applyEvents(
    client: PoolClient,
    events: Array<EventEnvelope & { offset: number }>,
    oneByOne: boolean,
  ): Promise<Reject[]> {
    const first = events[0]!.offset;
    const exhausted = this.failures.offset === first && this.failures.count >= this.maxAttempts;
    if (!exhausted && !oneByOne) {
      try {
        await this.projection.apply(client, new ProjectionBatch(events));
        return [];
      } catch (err) {
        if (!this.permanent(err)) {
          this.failures = {
            offset: first,
            count: this.failures.offset === first ? this.failures.count + 1 : 1,
          };
          throw err;
        }
        throw new SplitBatch();
      }
    }
    const rejects: Reject[] = [];
    for (const event of events) {
      await client.query('SAVEPOINT one');
      try {
        await this.projection.apply(client, new ProjectionBatch([event]));
        await client.query('RELEASE SAVEPOINT one');
      } catch (err) {
        if (isAppError(this.translateError(err), 'UNAVAILABLE')) throw err;
        await client.query('ROLLBACK TO SAVEPOINT one');
        const meaning = this.translateError(err) ?? err;
        rejects.push({
          offset: event.offset,
          id: event.id,
          type: event.type,
          reason: describe(meaning, err),
        });
      }
    }
    return rejects;
  }

  /** Whether retrying cannot help: a value the store refuses. */
  private permanent(err: unknown): boolean {
    return isAppError(this.translateError(err), 'INVALID_INPUT');
  }
}

/** The batch failed for good as a whole: roll back and apply its events one at a time. */
class SplitBatch extends Error {
  override name = 'SplitBatch';
}

interface Reject {
  offset: number;
  id: string | null;
  type: string | null;
  reason: string;
}

function describe(meaning: unknown, err: unknown): string {
  const said = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return meaning === err || !(meaning instanceof Error)
    ? said
    : `${meaning.name}: ${meaning.message} (${said})`;
}

export interface ProjectionRunnerOptions {
  projection: Projection;
  broker: Broker;
  /** A pool on the service's schema, where the projection's tables and offset are. */
  pool: Pool;
  schema: string;
  logger: Logger;
  translateError?: ErrorTranslator;
  maxAttempts?: number;
  /** How long after it happened an event may be in the log again, and still count once. */
  dedupWindowMs?: number;
  /** Wait before trying again after a failure, and between tries to lead (default 1000 ms). */
  retryDelayMs?: number;
}

/**
 * Keeps one projection up to date with the event log, live. Every worker of the service runs
 * one; the one holding the projection's advisory lock in PostgreSQL leads: it reads the log
 * from its stored offset and applies. The others stand by and take over within a second when
 * the leader stops or dies (its connection, and with it the lock, goes). Whatever breaks
 * (broker, database, a batch) the leader lets go and starts again from the stored offset.
 */
export class ProjectionRunner {
  readonly counters: ApplyCounts = { applied: 0, skipped: 0, rejected: 0 };
  /** The last offset this worker applied (-1: none yet). */
  offset = -1;
  leading = false;
  private readonly log: Logger;
  private readonly applier: ProjectionApplier;
  private stopping = false;
  private loop: Promise<void> | null = null;
  private reader: LogReader | null = null;
  private wake: (() => void) | null = null;
  private observer: ((records: readonly LogRecord[]) => void) | null = null;

  constructor(private readonly opts: ProjectionRunnerOptions) {
    this.log = opts.logger.child({ module: 'projection', projection: opts.projection.name });
    this.applier = new ProjectionApplier(
      opts.projection,
      this.log,
      opts.translateError,
      opts.maxAttempts,
      opts.dedupWindowMs,
    );
  }

  get name(): string {
    return this.opts.projection.name;
  }

  /** Called with each batch of records once it is committed (metrics, benchmarks). */
  observe(observer: (records: readonly LogRecord[]) => void): void {
    this.observer = observer;
  }

  async start(): Promise<void> {
    this.loop = this.run();
  }

  /** Finishes the batch in hand, stops reading and lets go of the lead. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    await this.reader?.stop();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      try {
        await this.lead();
      } catch (err) {
        if (!this.stopping) this.log.warn({ err: (err as Error).message }, 'projection paused; trying again');
      }
      if (this.stopping) break;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, this.opts.retryDelayMs ?? 1000).unref();
      });
    }
  }

  private async lead(): Promise<void> {
    if (!this.opts.broker.connected) return;
    const client = await this.opts.pool.connect();
    let broken = false;
    const key = `projection:${this.opts.schema}:${this.name}`;
    try {
      const { rows } = await client.query<{ ok: boolean }>(
        'SELECT pg_try_advisory_lock(hashtext($1)) AS ok',
        [key],
      );
      if (!rows[0]?.ok) return;
      try {
        this.leading = true;
        const last = await storedOffset(client, this.name);
        const from: LogPosition = last < 0 ? 'first' : { offset: last + 1 };
        this.log.info({ from: last < 0 ? 'first' : last + 1 }, 'leading: applying the event log');
        const reader = new LogReader({
          broker: this.opts.broker,
          logger: this.log,
          from,
          batchSize: this.opts.projection.batchSize ?? 500,
          onBatch: async (records) => {
            const counts = await this.applier.apply(client, records);
            this.counters.applied += counts.applied;
            this.counters.skipped += counts.skipped;
            this.counters.rejected += counts.rejected;
            this.offset = records[records.length - 1]!.offset;
            this.observer?.(records);
          },
        });
        this.reader = reader;
        if (this.stopping) return;
        await reader.start();
        const reason = await reader.closed;
        if (reason && !this.stopping) throw reason;
      } finally {
        this.leading = false;
        this.reader = null;
        await client.query('SELECT pg_advisory_unlock(hashtext($1))', [key]).catch(() => {
          broken = true;
        });
      }
    } catch (err) {
      broken = true;
      throw err;
    } finally {
      client.release(broken);
    }
  }
}
