import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { Broker } from '../amqp/broker.js';
import type { Pool, PoolClient } from '../db/pool.js';
import { prepared } from '../db/prepared.js';
import { describeIssues, type ErrorTranslator, isAppError } from '../errors.js';
import type { EventEnvelope } from '../events/envelope.js';
import { type LogPosition, LogReader, type LogRecord, legacyLogExists } from '../events/log.js';
import {
  assertPartitionCount,
  LEGACY_PARTITION,
  partitionLabel,
  partitionNumbers,
} from '../events/partitions.js';
import { type Projection, ProjectionBatch } from './projection.js';

export interface ApplyCounts {
  applied: number;
  /** Events of types the projection does not apply, and events it had applied already. */
  skipped: number;
  /** Events it could never apply (recorded in `projection_rejects`). */
  rejected: number;
}

const SELECT_OFFSET =
  'SELECT last_offset FROM projection_offsets WHERE projection = $1 AND log_partition = $2';

/**
 * The offset a projection has applied up to in one partition of the log, in the schema `db`
 * works in (-1: nothing yet).
 */
export async function storedOffset(
  db: Pool | PoolClient,
  projection: string,
  partition: number,
): Promise<number> {
  const { rows } = await db.query<{ last_offset: string }>(SELECT_OFFSET, [projection, partition]);
  return rows[0] ? Number(rows[0].last_offset) : -1;
}

/** A deadlock or serialization failure: the transaction rolled back whole, and may simply run again. */
function isConflict(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return code === '40P01' || code === '40001';
}

/** Every how many looks at the group a member checks that the legacy stream is still there. */
const LEGACY_CHECK_EVERY = 20;

/** Most times a batch that lost a deadlock runs again at once before the reader starts over. */
const CONFLICT_RETRIES = 20;

/**
 * Applies batches of one partition's log records to a projection's tables, each batch in one
 * transaction that also moves the projection's stored offset for that partition, so a record is applied exactly once however often
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
    private readonly partition: number,
    private readonly log: Logger,
    private readonly translateError: ErrorTranslator = () => undefined,
    private readonly maxAttempts = 5,
    /** How long after it happened an event can be in the log again (a client's retry). */
    private readonly dedupWindowMs = 31 * 86_400_000,
  ) {}

  /**
   * Several partitions' leaders write the rows that span partitions (a track's plays, a
   * minute's) at once. Every upsert takes its rows in key order and the tables in one order,
   * so they wait for each other rather than deadlock; should PostgreSQL still report one, the
   * transaction rolled back whole and simply runs again (nothing was counted).
   */
  async apply(client: PoolClient, records: readonly LogRecord[]): Promise<ApplyCounts> {
    for (let attempt = 1; ; attempt++) {
      try {
        try {
          return await this.applyOnce(client, records, false);
        } catch (err) {
          // The batch as a whole can never be applied: again, one event at a time.
          if (err instanceof SplitBatch) return await this.applyOnce(client, records, true);
          throw err;
        }
      } catch (err) {
        if (!isConflict(err) || attempt >= CONFLICT_RETRIES) throw err;
        this.log.debug({ attempt, err: (err as Error).message }, 'batch lost a lock conflict; again');
      }
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
      let atCommit = '';
      if (events.length > 0) {
        const applied = await this.applyEvents(client, events, oneByOne);
        rejects.push(...applied.refused);
        counts.applied = events.length - applied.refused.length;
        atCommit = applied.atCommit.map((sql) => `${sql}; `).join('');
      }
      for (const reject of rejects) {
        await client.query(
          `INSERT INTO projection_rejects (projection, log_partition, log_offset, event_id, type, reason)
           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`,
          [name, this.partition, reject.offset, reject.id, reject.type, reject.reason.slice(0, 2000)],
        );
        this.log.error(
          { projection: name, partition: this.partition, offset: reject.offset, reason: reject.reason },
          'event rejected',
        );
      }
      counts.rejected = rejects.length;
      // The projection's statements for the commit, the offset's update and the commit go in
      // one round trip (a simple query of several statements: if one fails, the rest are not
      // run and the catch rolls back).
      const move =
        fresh.length > 0
          ? `UPDATE projection_offsets SET last_offset = ${Math.trunc(fresh[fresh.length - 1]!.offset)}, applied = applied + ${counts.applied}, updated_at = now()
             WHERE projection = ${client.escapeLiteral(name)} AND log_partition = ${this.partition}; `
          : '';
      try {
        await client.query(`${atCommit}${move}COMMIT`);
      } catch (err) {
        // A statement of the projection's failed: as if `apply` had (see applyEvents).
        if (atCommit !== '' && !isConflict(err)) this.failed(events[0]!.offset, err);
        throw err;
      }
      this.failures = { offset: -1, count: 0 };
      return counts;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    }
  }

  /**
   * Opens the batch's transaction and locks the partition's offset row (a replay's swap takes
   * the same lock), in one round trip once the row exists; returns the stored offset.
   */
  private async begin(client: PoolClient): Promise<number> {
    const select = `SELECT last_offset FROM projection_offsets WHERE projection = ${client.escapeLiteral(this.projection.name)} AND log_partition = ${this.partition} FOR UPDATE`;
    const results = (await client.query(
      `BEGIN; SET LOCAL synchronous_commit = off; ${select}`,
    )) as unknown as Array<{ rows: Array<{ last_offset: string }> }>;
    let row = results[2]!.rows[0];
    if (!row) {
      await client.query(
        `INSERT INTO projection_offsets (projection, log_partition, last_offset) VALUES ($1, $2, -1)
         ON CONFLICT DO NOTHING`,
        [this.projection.name, this.partition],
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
        rejects.push({
          offset: r.offset,
          id,
          type,
          reason: `bad ${type} data: ${describeIssues(data.error, 'data')}`,
        });
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
  ): Promise<{ refused: Reject[]; atCommit: readonly string[] }> {
    const first = events[0]!.offset;
    const exhausted = this.failures.offset === first && this.failures.count >= this.maxAttempts;
    if (!exhausted && !oneByOne) {
      try {
        const batch = new ProjectionBatch(events);
        await this.projection.apply(client, batch);
        return { refused: [], atCommit: batch.commitStatements };
      } catch (err) {
        if (isConflict(err)) throw err;
        this.failed(first, err);
        throw err;
      }
    }
    const rejects: Reject[] = [];
    for (const event of events) {
      await client.query('SAVEPOINT one');
      try {
        const batch = new ProjectionBatch([event]);
        await this.projection.apply(client, batch);
        // One event at a time, its statements for the commit run here, in its savepoint.
        for (const sql of batch.commitStatements) await client.query(sql);
        await client.query('RELEASE SAVEPOINT one');
      } catch (err) {
        if (isConflict(err) || isAppError(this.translateError(err), 'UNAVAILABLE')) throw err;
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
    return { refused: rejects, atCommit: [] };
  }

  /**
   * The batch starting at `first` failed: a value the store refuses throws `SplitBatch` (the
   * caller comes again one event at a time); anything else is counted towards `maxAttempts`
   * and the caller rethrows it.
   */
  private failed(first: number, err: unknown): void {
    if (this.permanent(err)) throw new SplitBatch();
    this.failures = {
      offset: first,
      count: this.failures.offset === first ? this.failures.count + 1 : 1,
    };
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
  /** A pool on the service's schema, where the projection's tables and offsets are. */
  pool: Pool;
  schema: string;
  /** The event log's partition count (EVENT_LOG_PARTITIONS). */
  partitions: number;
  logger: Logger;
  translateError?: ErrorTranslator;
  maxAttempts?: number;
  /** How long after it happened an event may be in the log again, and still count once. */
  dedupWindowMs?: number;
  /** Wait before trying again after a failure (default 1000 ms). */
  retryDelayMs?: number;
  /** How often the group's assignment is looked at again (default 500 ms). */
  rebalanceMs?: number;
  /**
   * Benchmarks only (PROJECTION_DB_LATENCY_MS): every statement of a batch's transaction waits
   * this long before it goes, as a round trip to a database on another machine would.
   */
  dbLatencyMs?: number;
  /** This worker's name in listings and on its stream consumers (default host:pid). */
  workerName?: string;
}

/** The two-key advisory locks of a projection's consumer group: members, and partitions. */
export function groupLockKeys(schema: string, projection: string): { member: string; partition: string } {
  return {
    member: `projection-member:${schema}:${projection}`,
    partition: `projection-partition:${schema}:${projection}`,
  };
}

/**
 * Who holds what in a projection's consumer group, from PostgreSQL's lock table: the members
 * (by the backend pid of the connection holding their member lock, which also holds their
 * partition locks) and each led partition's member. A member's locks go with its connection,
 * so a worker that dies (kill -9 included) leaves the group as soon as its socket closes.
 */
export async function groupState(
  db: Pool | PoolClient,
  schema: string,
  projection: string,
): Promise<{ members: number[]; leaders: Map<number, number> }> {
  const keys = groupLockKeys(schema, projection);
  const { rows } = await db.query<{ kind: string; objid: string; pid: number }>(
    `SELECT CASE WHEN l.classid = hashtext($1)::oid THEN 'member' ELSE 'partition' END AS kind,
            l.objid::text AS objid, l.pid
     FROM pg_locks l
     WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
       AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
       AND l.classid IN (hashtext($1)::oid, hashtext($2)::oid)`,
    [keys.member, keys.partition],
  );
  const members = rows
    .filter((r) => r.kind === 'member')
    .map((r) => r.pid)
    .sort((a, b) => a - b);
  const leaders = new Map<number, number>();
  // Partition locks are keyed partition + 1 (the legacy partition is -1).
  for (const r of rows) if (r.kind === 'partition') leaders.set(Number(r.objid) - 1, r.pid);
  return { members, leaders };
}

/**
 * How many partitions the member at `index` (of `members`, sorted) leads: an even share, the
 * first ones taking one more when they do not divide evenly. The shares add up to `total`.
 */
export function fairShare(total: number, members: number, index: number): number {
  if (members <= 0) return 0;
  return Math.floor(total / members) + (index < total % members ? 1 : 0);
}

/**
 * The order in which the member at `index` tries free partitions: the list rotated to start
 * at its own stretch, so members starting together reach for different ones.
 */
export function claimOrder(partitions: readonly number[], members: number, index: number): number[] {
  if (partitions.length === 0) return [];
  const start = Math.floor((index * partitions.length) / Math.max(1, members)) % partitions.length;
  return [...partitions.slice(start), ...partitions.slice(0, start)];
}

/**
 * Keeps one projection up to date with the event log, as a member of the projection's consumer
 * group: every worker of the service runs one, and the partitions of the log are spread over
 * the live members, each partition led (read and applied) by one of them.
 *
 * Membership and leadership are PostgreSQL advisory locks held on one connection per member
 * (the coordinator): a member lock, and one lock per partition it leads. Every `rebalanceMs`
 * each member reads the group from the lock table, works out its fair share (the shares of
 * all members add up to the partition count) and lets go of partitions beyond it or takes free
 * ones up to it. A worker that stops lets go of its locks; one that dies loses them with its
 * connection; one that cannot reach the broker leaves the group. Either way its partitions
 * are taken over within about two rebalance periods.
 *
 * The coordinator does the group's bookkeeping only, so a look at the group never waits for a
 * batch. The partitions' batches take turns, one transaction at a time per projection and
 * worker, each on a connection of the pool. Each batch takes its partition's offset row
 * `FOR UPDATE`, skips what is at or before it, and moves it in its own transaction: a
 * partition that moves is taken up exactly where its last batch committed, and a batch still
 * finishing on a member that has just lost its locks applies nothing twice.
 */
export class ProjectionRunner {
  readonly counters: ApplyCounts = { applied: 0, skipped: 0, rejected: 0 };
  /** The last offset applied per partition this worker led (-1: none yet). */
  readonly offsets = new Map<number, number>();
  private readonly log: Logger;
  private readonly keys: { member: string; partition: string };
  private readonly workerName: string;
  private stopping = false;
  private loop: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  private observer: ((records: readonly LogRecord[], partition: number) => void) | null = null;
  private coord: PoolClient | null = null;
  private coordBroken = false;
  /** Serializes what goes through the coordinator: one statement or transaction at a time. */
  private turn: Promise<unknown> = Promise.resolve();
  private readonly leaders = new Map<number, PartitionLeader>();
  private legacy = false;
  private looks = 0;
  private readonly onCoordError = () => {
    this.coordBroken = true;
  };
  private coordPid = -1;

  constructor(private readonly opts: ProjectionRunnerOptions) {
    this.log = opts.logger.child({ module: 'projection', projection: opts.projection.name });
    this.keys = groupLockKeys(opts.schema, opts.projection.name);
    this.workerName = opts.workerName ?? `${hostname()}:${process.pid}`;
  }

  get name(): string {
    return this.opts.projection.name;
  }

  /** Whether this worker leads at least one partition. */
  get leading(): boolean {
    return this.leaders.size > 0;
  }

  /** The partitions this worker leads now. */
  get partitions(): number[] {
    return [...this.leaders.keys()].sort((a, b) => a - b);
  }

  /** Called with each batch of records once it is committed (metrics, benchmarks). */
  observe(observer: (records: readonly LogRecord[], partition: number) => void): void {
    this.observer = observer;
  }

  async start(): Promise<void> {
    this.loop = this.run();
  }

  /** Finishes the batches in hand, stops reading and lets go of every partition and the group. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      let delay = this.opts.rebalanceMs ?? 500;
      try {
        await this.rebalance();
      } catch (err) {
        if (!this.stopping) this.log.warn({ err: (err as Error).message }, 'projection paused; trying again');
        await this.leave();
        delay = this.opts.retryDelayMs ?? 1000;
      }
      if (this.stopping) break;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        // A little jitter, so members that started together do not look at the group in step.
        setTimeout(resolve, delay * (0.8 + 0.4 * Math.random())).unref();
      });
    }
    await this.leave();
  }

  /** Runs `fn` on the coordinator (group bookkeeping only: the run loop's, one at a time). */
  private async onCoordinator<T>(fn: (client: PoolClient) => Promise<T>): Promise<T> {
    const client = this.coord;
    if (!client) throw new Error('not a member of the group');
    try {
      return await fn(client);
    } catch (err) {
      this.coordBroken = true;
      throw err;
    }
  }

  /**
   * Runs one batch's work on a connection of the pool once the batch before it (of any of
   * this member's partitions) is done: one transaction at a time per projection and worker.
   */
  private inTurn<T>(fn: (client: PoolClient) => Promise<T>): Promise<T> {
    const run = async () => {
      const client = await this.opts.pool.connect();
      let broken = false;
      try {
        return await fn(client);
      } catch (err) {
        // Not the database's answer to a statement: the connection itself is suspect.
        broken = !(err instanceof Error && 'code' in err);
        throw err;
      } finally {
        client.release(broken);
      }
    };
    const next = this.turn.then(run, run);
    this.turn = next.catch(() => {});
    return next;
  }

  /** One look at the group: join it, let go of partitions beyond the share, take free ones up to it. */
  private async rebalance(): Promise<void> {
    if (!this.opts.broker.connected) {
      await this.leave();
      return;
    }
    if (this.coord && this.coordBroken) throw new Error('the coordinator connection failed');
    if (!this.coord) await this.join();
    // The legacy stream, once deleted (docs/ARCHITECTURE.md, "Upgrading"), leaves the group.
    if (
      this.legacy &&
      ++this.looks % LEGACY_CHECK_EVERY === 0 &&
      !(await legacyLogExists(this.opts.broker))
    ) {
      this.legacy = false;
      if (this.leaders.has(LEGACY_PARTITION)) await this.release(LEGACY_PARTITION);
    }
    const all = [
      ...(this.legacy ? [LEGACY_PARTITION] : []),
      ...partitionNumbers(assertPartitionCount(this.opts.partitions)),
    ];
    const { members, leaders } = await this.onCoordinator((c) => groupState(c, this.opts.schema, this.name));
    const me = this.coordPid;
    const index = members.indexOf(me);
    if (index < 0) throw new Error('this worker lost its place in the group');
    const share = fairShare(all.length, members.length, index);
    // Beyond the share: the highest-numbered go, all at once, each once its batch in hand is
    // committed (batches still waiting their turn are dropped).
    await this.release(...this.partitions.slice(share));
    if (this.leaders.size >= share) return;
    for (const partition of claimOrder(all, members.length, index)) {
      if (this.leaders.size >= share || this.stopping) break;
      if (this.leaders.has(partition) || leaders.has(partition)) continue;
      const ok = await this.onCoordinator(
        async (c) =>
          (
            await c.query<{ ok: boolean }>('SELECT pg_try_advisory_lock(hashtext($1), $2) AS ok', [
              this.keys.partition,
              partition + 1,
            ])
          ).rows[0]!.ok,
      );
      if (ok) {
        await this.nameLeader(partition);
        await this.lead(partition);
      }
    }
  }

  /**
   * Writes this worker's name as the partition's leader at once, on the coordinator, unless a
   * batch (the previous leader's last, a replay's swap) holds the partition's offset row: the
   * look at the group never waits. The partition's reader writes it again before it reads.
   */
  private async nameLeader(partition: number): Promise<void> {
    await this.onCoordinator((c) =>
      c.query(
        `UPDATE projection_offsets SET leader = $3
         WHERE (projection, log_partition) IN (SELECT projection, log_partition FROM projection_offsets
           WHERE projection = $1 AND log_partition = $2 FOR UPDATE SKIP LOCKED)`,
        [this.name, partition, this.workerName],
      ),
    );
  }

  /** Takes a connection of its own and the member lock on it; learns whether the legacy stream is there. */
  private async join(): Promise<void> {
    this.legacy = await legacyLogExists(this.opts.broker);
    const client = await this.opts.pool.connect();
    this.coord = client;
    this.coordBroken = false;
    client.on('error', this.onCoordError);
    this.coordPid = await this.onCoordinator(
      async (c) =>
        (
          await c.query<{ pid: number }>(
            'SELECT pg_backend_pid() AS pid, pg_advisory_lock(hashtext($1), pg_backend_pid())',
            [this.keys.member],
          )
        ).rows[0]!.pid,
    );
    this.log.info({ worker: this.workerName }, 'joined the consumer group');
  }

  /** Stops every partition and gives the coordinator (and with it every lock) back. */
  private async leave(): Promise<void> {
    await Promise.all([...this.leaders.values()].map((l) => l.stop()));
    this.leaders.clear();
    const client = this.coord;
    if (!client) return;
    this.coord = null;
    client.off('error', this.onCoordError);
    let broken = this.coordBroken;
    // A broken coordinator is dropped as it is: its session's end lets go of its locks.
    if (!broken) {
      await client.query('SELECT pg_advisory_unlock_all()').catch(() => {
        broken = true;
      });
    }
    client.release(broken);
    // The next look joins afresh on a new connection.
    this.coordBroken = false;
  }

  private async lead(partition: number): Promise<void> {
    const leader = new PartitionLeader(partition, this.opts, this.log, this.workerName, {
      inTurn: (fn) => this.inTurn(fn),
      applied: (counts, records) => {
        this.counters.applied += counts.applied;
        this.counters.skipped += counts.skipped;
        this.counters.rejected += counts.rejected;
        this.offsets.set(partition, records[records.length - 1]!.offset);
        this.observer?.(records, partition);
      },
    });
    this.leaders.set(partition, leader);
    leader.start();
  }

  /** Stops leading `partitions` (all at once, each after its batch in hand), then unlocks them. */
  private async release(...partitions: number[]): Promise<void> {
    const leaders = partitions.map((partition) => {
      const leader = this.leaders.get(partition);
      this.leaders.delete(partition);
      return leader;
    });
    await Promise.all(leaders.map((leader) => leader?.stop()));
    // One statement at a time on the coordinator.
    for (const partition of partitions) {
      await this.onCoordinator((c) =>
        c.query('SELECT pg_advisory_unlock(hashtext($1), $2)', [this.keys.partition, partition + 1]),
      );
    }
  }
}

interface LeaderHooks {
  inTurn<T>(fn: (client: PoolClient) => Promise<T>): Promise<T>;
  applied(counts: ApplyCounts, records: readonly LogRecord[]): void;
}

/**
 * Reads one partition from its stored offset and applies it, batch by batch, through the
 * member's coordinator; after a failure it starts again from the stored offset, for as long as
 * the member leads the partition.
 */
class PartitionLeader {
  private running = true;
  private reader: LogReader | null = null;
  private loop: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  private readonly applier: ProjectionApplier;
  private readonly log: Logger;

  constructor(
    private readonly partition: number,
    private readonly opts: ProjectionRunnerOptions,
    log: Logger,
    private readonly workerName: string,
    private readonly hooks: LeaderHooks,
  ) {
    this.log = log.child({ partition: partitionLabel(partition) });
    this.applier = new ProjectionApplier(
      opts.projection,
      partition,
      this.log,
      opts.translateError,
      opts.maxAttempts,
      opts.dedupWindowMs,
    );
  }

  start(): void {
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.reader?.stop();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (this.running) {
      try {
        await this.read();
      } catch (err) {
        if (!this.running) break;
        this.log.warn({ err: (err as Error).message }, 'partition paused; trying again');
      }
      if (!this.running) break;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, this.opts.retryDelayMs ?? 1000).unref();
      });
    }
  }

  private async read(): Promise<void> {
    const { projection } = this.opts;
    const last = await this.hooks.inTurn(async (c) => {
      await c.query(
        `INSERT INTO projection_offsets (projection, log_partition, last_offset, leader) VALUES ($1, $2, -1, $3)
         ON CONFLICT (projection, log_partition) DO UPDATE SET leader = EXCLUDED.leader`,
        [projection.name, this.partition, this.workerName],
      );
      return storedOffset(c, projection.name, this.partition);
    });
    const from: LogPosition = last < 0 ? 'first' : { offset: last + 1 };
    this.log.info({ from: last < 0 ? 'first' : last + 1 }, 'leading a partition');
    const reader = new LogReader({
      broker: this.opts.broker,
      logger: this.log,
      partition: this.partition,
      from,
      batchSize: projection.batchSize ?? 500,
      consumerTag: `${this.workerName}/${projection.name}/${partitionLabel(this.partition)}`,
      onBatch: async (records) => {
        const latency = this.opts.dbLatencyMs ?? 0;
        // A partition let go of while its batch waited its turn applies nothing: its next
        // leader reads on from the stored offset, at once rather than after this worker's queue.
        const counts = await this.hooks.inTurn(async (c) =>
          this.running ? this.applier.apply(latency > 0 ? withLatency(c, latency) : c, records) : null,
        );
        if (counts) this.hooks.applied(counts, records);
      },
    });
    this.reader = reader;
    if (!this.running) return;
    try {
      await reader.start();
      const reason = await reader.closed;
      if (reason && this.running) throw reason;
    } finally {
      this.reader = null;
    }
  }
}

/**
 * `client` with every query sent `ms` later: the round trip to a database on another machine,
 * for benchmarks (PROJECTION_DB_LATENCY_MS). Locks a statement takes are held across the
 * round trips that follow it in the transaction, as they would be.
 */
function withLatency(client: PoolClient, ms: number): PoolClient {
  return new Proxy(client, {
    get(target, prop, receiver) {
      if (prop !== 'query') return Reflect.get(target, prop, receiver);
      return async (...args: Parameters<PoolClient['query']>) => {
        await new Promise((r) => setTimeout(r, ms));
        return (target.query as (...a: unknown[]) => unknown)(...args);
      };
    },
  });
}
