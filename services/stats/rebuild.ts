import type { HistoryContract, LoggedPlay } from '../../common/contracts/index.js';
import {
  claimEvents,
  type Logger,
  type Pool,
  type PoolClient,
  type ServiceClient,
  UnavailableError,
} from '../../common/index.js';
import { PLAYS_CONSUMER } from './consumers.js';
import { applyPlays } from './plays.js';
import { PLAY_TABLES } from './tally.js';

export interface RebuildDeps {
  /** Pool on the stats schema. */
  pool: Pool;
  history: ServiceClient<HistoryContract>;
  log: Logger;
  /** Plays asked of history per call (default 2000). */
  pageSize?: number;
  /**
   * How long to wait, with live counting paused, for history to store plays the live
   * statistics already counted (default 10 s).
   */
  catchUpTimeoutMs?: number;
}

export interface RebuildResult {
  plays: number;
  tracks: number;
  users: number;
  durationMs: number;
}

/** The rebuild records the plays it counted under this name, next to the live consumer's. */
const REBUILD_CONSUMER = `${PLAYS_CONSUMER}:rebuild`;
const SUFFIX = '_rebuild';
const TABLES = Object.values(PLAY_TABLES).map((t) => t.name);

/**
 * Recomputes the play statistics from the history service's play log and swaps them in.
 *
 * 1. Page through `history.export` into fresh `*_rebuild` tables, counting each play with the
 *    same code the live consumer uses (`applyPlays`), its id claimed under REBUILD_CONSUMER.
 * 2. Consumption cannot be paused, and the history and stats consumers each go at their own
 *    pace. So, in one transaction that first locks `processed_events` (live batches claim
 *    their ids before they count, so none is half-way once the lock is held, and the next
 *    ones wait): read the log to its end again, and make sure every play the live consumer
 *    has counted is in the rebuild too, fetching stragglers by id. If history has still not
 *    stored some of them (it lags, or is down), wait up to `catchUpTimeoutMs`, then give up
 *    and change nothing.
 * 3. Still in that transaction, replace the live tables' rows with the rebuilt ones and
 *    record the rebuilt plays as processed by the live consumer. A play the rebuild counted
 *    that the live consumer has not seen yet is then skipped by `claimEvents` when it comes;
 *    one neither has counted is counted live when it comes. Nothing counts twice or never.
 *
 * The registered-user and playlist-change counters are not derived from plays and are kept.
 */
export async function rebuildStats(deps: RebuildDeps): Promise<RebuildResult> {
  const started = performance.now();
  const pageSize = deps.pageSize ?? 2000;
  const timeoutMs = deps.catchUpTimeoutMs ?? 10_000;
  const log = deps.log.child({ module: 'stats-rebuild' });
  const client = await deps.pool.connect();
  const lockKey = "hashtext('stats-rebuild:' || current_schema())";
  try {
    const { rows } = await client.query<{ locked: boolean }>(
      `SELECT pg_try_advisory_lock(${lockKey}) AS locked`,
    );
    if (!rows[0]!.locked) throw new UnavailableError('a statistics rebuild is already running');
    try {
      await prepare(client);
      const reader = new LogReader(client, deps.history, pageSize);
      // The bulk of the log, while live consumption goes on.
      await reader.catchUp((plays) => inTransaction(client, () => reader.count(plays)));
      log.info({ plays: reader.counted }, 'play log copied; swapping in');
      await inTransaction(client, async () => {
        await client.query('LOCK TABLE processed_events IN EXCLUSIVE MODE');
        await reader.catchUp((plays) => reader.count(plays), Date.now() + timeoutMs);
        await swap(client);
      });
      const counts = await client.query<{ tracks: string; users: string }>(
        'SELECT (SELECT count(*) FROM track_plays) AS tracks, (SELECT count(*) FROM user_totals) AS users',
      );
      const result = {
        plays: reader.counted,
        tracks: Number(counts.rows[0]!.tracks),
        users: Number(counts.rows[0]!.users),
        durationMs: Math.round(performance.now() - started),
      };
      log.info(result, 'statistics rebuilt');
      return result;
    } finally {
      await cleanUp(client).catch((err: Error) => log.warn({ err: err.message }, 'rebuild clean-up failed'));
      await client.query(`SELECT pg_advisory_unlock(${lockKey})`).catch(() => {});
    }
  } finally {
    client.release();
  }
}

/** Reads the play log into the rebuild tables, remembering how far it got. */
class LogReader {
  afterSeq = 0;
  counted = 0;

  constructor(
    private readonly client: PoolClient,
    private readonly history: ServiceClient<HistoryContract>,
    private readonly pageSize: number,
  ) {}

  /** Counts plays not counted yet into the rebuild tables. */
  async count(plays: LoggedPlay[]): Promise<void> {
    const claimed = await claimEvents(
      this.client,
      REBUILD_CONSUMER,
      plays.map((p) => p.eventId),
    );
    const fresh = plays.filter((p) => claimed.delete(p.eventId));
    await applyPlays(this.client, fresh, SUFFIX);
    this.counted += fresh.length;
  }

  /**
   * Reads the log to its end, then fetches by id the plays the live statistics counted and
   * the rebuild has not (stored in history after the page they would have been in was read,
   * or not stored yet). With a `deadline` it repeats until there are none, waiting for
   * history to store them, and fails when the deadline passes; without, one pass.
   */
  async catchUp(apply: (plays: LoggedPlay[]) => Promise<void>, deadline?: number): Promise<void> {
    for (;;) {
      for (;;) {
        const page = await this.history.call('export', { afterSeq: this.afterSeq, limit: this.pageSize });
        if (page.length === 0) break;
        await apply(page);
        this.afterSeq = page.at(-1)!.seq;
      }
      const missing = await this.missing();
      if (missing.length === 0) return;
      const found = await this.history.call('export', { eventIds: missing, limit: missing.length });
      if (found.length > 0) await apply(found);
      if (deadline === undefined) return;
      if (found.length > 0) continue;
      if (Date.now() > deadline) {
        throw new UnavailableError(
          `history has not stored ${missing.length}${missing.length === MISSING_BATCH ? '+' : ''} plays ` +
            `the live statistics counted (e.g. event ${missing[0]}); is the history service running ` +
            'and caught up? Nothing was changed.',
          { missing: missing.length, example: missing[0] },
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Plays the live consumer counted and the rebuild has not, a batch at a time. */
  private async missing(): Promise<string[]> {
    const { rows } = await this.client.query<{ event_id: string }>(
      `SELECT p.event_id FROM processed_events p
       WHERE p.consumer = $1 AND NOT EXISTS (
         SELECT 1 FROM processed_events r WHERE r.consumer = $2 AND r.event_id = p.event_id)
       LIMIT $3`,
      [PLAYS_CONSUMER, REBUILD_CONSUMER, MISSING_BATCH],
    );
    return rows.map((r) => r.event_id);
  }
}

/** Largest number of ids asked of history at once (its `export` limit). */
const MISSING_BATCH = 5000;

async function prepare(client: PoolClient): Promise<void> {
  await cleanUp(client);
  for (const table of TABLES) {
    // Scratch tables: unlogged is faster, and a crash only means running the rebuild again.
    await client.query(`CREATE UNLOGGED TABLE ${table}${SUFFIX} (LIKE ${table} INCLUDING ALL)`);
  }
}

async function swap(client: PoolClient): Promise<void> {
  await client.query(`TRUNCATE ${TABLES.join(', ')}`);
  for (const table of TABLES) await client.query(`INSERT INTO ${table} SELECT * FROM ${table}${SUFFIX}`);
  await client.query(
    `INSERT INTO processed_events (consumer, event_id)
     SELECT $1, event_id FROM processed_events WHERE consumer = $2
     ON CONFLICT DO NOTHING`,
    [PLAYS_CONSUMER, REBUILD_CONSUMER],
  );
}

async function cleanUp(client: PoolClient): Promise<void> {
  await client.query(`DROP TABLE IF EXISTS ${TABLES.map((t) => t + SUFFIX).join(', ')}`);
  await client.query('DELETE FROM processed_events WHERE consumer = $1', [REBUILD_CONSUMER]);
}

async function inTransaction(client: PoolClient, fn: () => Promise<void>): Promise<void> {
  await client.query('BEGIN');
  try {
    await fn();
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
}
