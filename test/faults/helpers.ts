import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { Events, type TrackPlayed } from '../../common/contracts/events.js';
import { type EventEnvelope, makeEnvelope } from '../../common/events/envelope.js';
import { logEnds } from '../../common/events/log.js';
import { DEFAULT_PARTITIONS, partitionNumbers } from '../../common/events/partitions.js';
import { groupState } from '../../common/projections/runner.js';
import { eventually, sleep } from '../support/env.js';
import { ApiClient, System, type SystemOptions } from '../support/system.js';

/**
 * Starts one system for a test file (beforeAll), stops it and drops its database and queues
 * (afterAll), and prints the tail of every process's log when a test fails.
 */
export function useSystem(opts: SystemOptions | (() => SystemOptions) = {}): () => System {
  let system: System | undefined;
  beforeAll(async () => {
    // Options may name what an earlier beforeAll made (a broker cluster, a database server).
    system = await System.start(typeof opts === 'function' ? opts() : opts);
  }, 300_000);
  afterAll(async () => {
    await system?.stop();
  }, 120_000);
  beforeEach(({ onTestFailed }) => {
    onTestFailed(async () => {
      if (system) process.stderr.write(`\n${await system.logTails(30)}`);
    });
  });
  return () => {
    if (!system) throw new Error('the system did not start');
    return system;
  };
}

/** Prints a scenario's figures as one block, so a run's log is the report. */
export function report(scenario: string, figures: Record<string, unknown>): void {
  const width = Math.max(...Object.keys(figures).map((k) => k.length));
  const lines = Object.entries(figures).map(([k, v]) => `  ${k.padEnd(width)}  ${String(v)}`);
  console.log(`\n[faults] ${scenario}\n${lines.join('\n')}`);
}

/** Ids of the seeded tracks. */
export async function trackIds(system: System): Promise<string[]> {
  const { rows } = await system
    .dbFor('catalog')
    .query<{ id: string }>('SELECT id FROM catalog.tracks ORDER BY id');
  if (rows.length === 0) throw new Error('the catalog is empty');
  return rows.map((r) => r.id);
}

/**
 * Listeners posting plays through the gateway, `concurrency` requests in flight. Only 202
 * answers count as accepted. A play that gets anything else is retried with the same play id
 * after a short pause, as the client does (a retried play is the same event, counted once),
 * so every play ends accepted and the outage cannot turn into a spin.
 */
export class PlayLoad {
  /** Event ids of accepted plays, one per play. */
  readonly accepted: string[] = [];
  /** When each play was accepted (Date.now()). */
  readonly acceptedAt: number[] = [];
  readonly statuses = new Map<number, number>();
  /** When each answer other than 202 came (Date.now()). */
  readonly refusedAt: number[] = [];
  /** Non-202 answers that lacked Retry-After. */
  withoutRetryAfter = 0;
  /** Requests that got no HTTP answer at all. */
  networkErrors = 0;
  /** Plays started (each retried until accepted). */
  plays = 0;
  /** HTTP requests made, retries included. */
  requests = 0;
  private stopped = false;
  readonly done: Promise<void>;

  private readonly total: number;
  private readonly paceMs: number;
  private readonly pauseMs: number;

  constructor(
    private readonly api: ApiClient,
    private readonly tracks: readonly string[],
    opts: {
      /** Plays to make (default: until stopped). */
      total?: number;
      /** Listeners playing at once (default 16). */
      concurrency?: number;
      /** Pause of each listener between plays (default 0). */
      paceMs?: number;
      /** Pause before retrying a play that was not accepted (default 100). */
      pauseMs?: number;
    } = {},
  ) {
    this.total = opts.total ?? Number.POSITIVE_INFINITY;
    this.paceMs = opts.paceMs ?? 0;
    this.pauseMs = opts.pauseMs ?? 100;
    this.done = Promise.all(Array.from({ length: opts.concurrency ?? 16 }, () => this.loop())).then(() => {});
  }

  /** Stops starting new plays; plays under way are still retried until accepted. */
  stop(): Promise<void> {
    this.stopped = true;
    return this.done;
  }

  /** Resolves once `n` plays were accepted. */
  waitAccepted(n: number, timeoutMs = 60_000): Promise<unknown> {
    return eventually(() => this.accepted.length >= n, timeoutMs);
  }

  /** First acceptance at or after `t` (Date.now()), or null. */
  firstAcceptedAfter(t: number): number | null {
    return this.acceptedAt.find((at) => at >= t) ?? null;
  }

  /**
   * How long plays were refused: refusals less than a second apart form one stretch, each
   * stretch lasting from its first refusal to its last plus the pause before the retry.
   */
  refusedMs(from = 0, to = Number.POSITIVE_INFINITY): number {
    const times = this.refusedAt.filter((t) => t >= from && t <= to);
    let total = 0;
    let start: number | null = null;
    let last = 0;
    for (const t of times) {
      if (start === null || t - last > 1000) {
        if (start !== null) total += last - start + this.pauseMs;
        start = t;
      }
      last = t;
    }
    if (start !== null) total += last - start + this.pauseMs;
    return total;
  }

  statusSummary(): string {
    return [...this.statuses.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([s, n]) => `${s} x${n}`)
      .join(', ');
  }

  private async loop(): Promise<void> {
    while (!this.stopped && this.plays < this.total) {
      const trackId = this.tracks[this.plays++ % this.tracks.length]!;
      const playId = randomUUID();
      for (;;) {
        this.requests++;
        try {
          const r = await this.api.play(trackId, playId);
          this.statuses.set(r.status, (this.statuses.get(r.status) ?? 0) + 1);
          if (r.status === 202 && r.id) {
            this.accepted.push(r.id);
            this.acceptedAt.push(Date.now());
            if (this.paceMs > 0) await sleep(this.paceMs);
            break;
          }
          this.refusedAt.push(Date.now());
          if (r.retryAfter === null) this.withoutRetryAfter++;
        } catch {
          this.networkErrors++;
        }
        await sleep(this.pauseMs);
      }
    }
  }
}

export interface PlayFigures {
  /** Rows in history.plays. */
  stored: number;
  /** Rows beyond one per event id (the unique key makes this 0 unless it is dropped). */
  historyDuplicates: number;
  /** Accepted ids not in history. */
  missing: number;
  /** Plays the stats projection counted (sum over tracks). */
  counted: number;
  /** Tracks whose stats count differs from history's. */
  trackMismatches: number;
  /** Users whose stats totals differ from history's. */
  userMismatches: number;
  deadHistory: number;
  /** Events the stats projection rejected. */
  deadStats: number;
}

const queue = (group: string) => `${group}.track-played`;

/**
 * The database holding history's and stats' schemas, which the figures compare in one query
 * (so a scenario that moves them keeps them on one server).
 */
function playsDb(system: System) {
  const db = system.dbFor('history');
  if (system.dbFor('stats') !== db) throw new Error('history and stats must share a database server here');
  return db;
}

/** Compares what history stored with what stats counted, and which accepted ids are missing. */
export async function playFigures(system: System, accepted: readonly string[]): Promise<PlayFigures> {
  const db = playsDb(system);
  const [history, missing, counted, tracks, users, queues, statsRejects] = await Promise.all([
    db.query<{ total: number; distinct: number }>(
      'SELECT count(*)::int AS total, count(DISTINCT event_id)::int AS distinct FROM history.plays',
    ),
    db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM unnest($1::uuid[]) AS a(id)
       WHERE NOT EXISTS (SELECT 1 FROM history.plays p WHERE p.event_id = a.id)`,
      [accepted],
    ),
    db.query<{ n: number }>('SELECT coalesce(sum(plays), 0)::int AS n FROM stats.track_plays'),
    db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM
         (SELECT track_id, count(*) AS plays FROM history.plays GROUP BY track_id) h
         FULL JOIN stats.track_plays s USING (track_id)
       WHERE h.plays IS DISTINCT FROM s.plays`,
    ),
    db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM
         (SELECT user_id, count(*) AS plays, sum(ms_played) AS ms FROM history.plays GROUP BY user_id) h
         FULL JOIN stats.user_totals s USING (user_id)
       WHERE h.plays IS DISTINCT FROM s.plays OR h.ms IS DISTINCT FROM s.ms_played`,
    ),
    system.queues(),
    rejectedBy(system, 'stats'),
  ]);
  return {
    stored: history.rows[0]!.total,
    historyDuplicates: history.rows[0]!.total - history.rows[0]!.distinct,
    missing: missing.rows[0]!.n,
    counted: counted.rows[0]!.n,
    trackMismatches: tracks.rows[0]!.n,
    userMismatches: users.rows[0]!.n,
    deadHistory: queues.get(`${queue('history')}.dead`)?.messages ?? 0,
    deadStats: statsRejects,
  };
}

/** Events of the log the projection could never apply (its `projection_rejects`). */
export async function rejectedBy(system: System, projection: 'stats' | 'report'): Promise<number> {
  const { rows } = await system
    .dbFor('stats')
    .query<{ n: number }>('SELECT count(*)::int AS n FROM stats.projection_rejects WHERE projection = $1', [
      projection,
    ]);
  return rows[0]!.n;
}

/** How far a projection has read each partition of the event log (absent: not at all). */
export async function projectionOffsets(
  system: System,
  projection: 'stats' | 'report',
): Promise<Map<number, number>> {
  const { rows } = await system
    .dbFor('stats')
    .query<{ log_partition: number; last_offset: string }>(
      'SELECT log_partition, last_offset FROM stats.projection_offsets WHERE projection = $1',
      [projection],
    );
  return new Map(rows.map((r) => [r.log_partition, Number(r.last_offset)]));
}

/** The newest offset of every partition of the system's event log that holds an event. */
export async function logEnd(system: System): Promise<Map<number, number>> {
  return logEnds(await system.broker(), partitionNumbers(DEFAULT_PARTITIONS));
}

/** The share of the log (0..1, by offsets) that `offsets` have read up to `ends`. */
export function readShare(offsets: ReadonlyMap<number, number>, ends: ReadonlyMap<number, number>): number {
  let total = 0;
  let read = 0;
  for (const [p, last] of ends) {
    total += last + 1;
    read += Math.min(last, offsets.get(p) ?? -1) + 1;
  }
  return total === 0 ? 1 : read / total;
}

/**
 * Where a consumer records that it processed an event: history's play log is keyed by event
 * id; the stats projection records the ids it applied in `projection_seen`.
 */
const DONE = {
  history: { table: 'history.plays', consumer: "'history.track-played'", mine: 'true' },
  stats: { table: 'stats.projection_seen', consumer: 'NEW.projection', mine: "projection = 'stats'" },
} as const;

/**
 * Test instrumentation in the run's own database: records every attempt to record an event as
 * processed (see DONE), including the ones the unique key then turns away, so a test can tell
 * events that were processed again (and deduplicated) from events processed once.
 */
export async function installClaimProbe(system: System, schema: 'history' | 'stats'): Promise<void> {
  const { table, consumer } = DONE[schema];
  await system.dbFor(schema).query(`
    CREATE TABLE ${schema}.claim_attempts (event_id uuid NOT NULL, consumer text NOT NULL);
    CREATE FUNCTION ${schema}.record_claim() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN INSERT INTO ${schema}.claim_attempts VALUES (NEW.event_id, ${consumer}); RETURN NEW; END $$;
    CREATE TRIGGER record_claim BEFORE INSERT ON ${table}
      FOR EACH ROW EXECUTE FUNCTION ${schema}.record_claim();`);
}

/** Events of `consumer` whose processing was committed more than once (see installClaimProbe). */
export async function reprocessed(system: System, schema: 'history' | 'stats', consumer: string) {
  const { rows } = await system
    .dbFor(schema)
    .query<{ n: number }>(
      `SELECT (count(*) - count(DISTINCT event_id))::int AS n FROM ${schema}.claim_attempts WHERE consumer = $1`,
      [consumer],
    );
  return rows[0]!.n;
}

/** Events the consumer group has recorded as processed (see DONE). */
export async function processedCount(system: System, schema: 'history' | 'stats'): Promise<number> {
  const { rows } = await system
    .dbFor(schema)
    .query<{ n: number }>(`SELECT count(*)::int AS n FROM ${DONE[schema].table} WHERE ${DONE[schema].mine}`);
  return rows[0]!.n;
}

/** Rows in history.plays now. */
export async function storedPlays(system: System): Promise<number> {
  const { rows } = await system
    .dbFor('history')
    .query<{ n: number }>('SELECT count(*)::int AS n FROM history.plays');
  return rows[0]!.n;
}

/**
 * The management API's cumulative counts for a queue once they no longer change (the broker
 * samples them every few seconds), e.g. to read how many deliveries were redelivered.
 */
export async function settledQueueStats(system: System, queue: string): Promise<Record<string, number>> {
  let last = JSON.stringify(await system.queueStats(queue));
  for (let i = 0; i < 5; i++) {
    await sleep(QUORUM_METRICS_DELAY_MS);
    const now = JSON.stringify(await system.queueStats(queue));
    if (now === last) break;
    last = now;
  }
  return JSON.parse(last) as Record<string, number>;
}

/** Quorum queues report their counts to the management API and rabbitmqctl this much later. */
const QUORUM_METRICS_DELAY_MS = 6000;

/** Messages waiting or in flight in the track-played queues (main and retry, not dead). */
export async function playsInFlight(system: System): Promise<number> {
  let n = 0;
  for (const [name, q] of await system.queues()) {
    if (name.includes('.track-played') && !name.endsWith('.dead')) n += q.messages;
  }
  return n;
}

/**
 * Waits until every play is through: nothing left in the play queues, and history and stats
 * agree on the number of plays. Resolves with the figures and how long it took.
 */
export async function waitForPlays(
  system: System,
  accepted: readonly string[],
  timeoutMs = 120_000,
): Promise<PlayFigures & { settledMs: number }> {
  const started = Date.now();
  let figures: PlayFigures | undefined;
  await eventually(
    async () => {
      if ((await playsInFlight(system)) > 0) return false;
      figures = await playFigures(system, accepted);
      return figures.missing === 0 && figures.counted === figures.stored;
    },
    timeoutMs,
    300,
  ).catch((err: Error) => {
    throw new Error(`plays did not settle: ${err.message}; last figures ${JSON.stringify(figures)}`);
  });
  return { ...figures!, settledMs: Date.now() - started };
}

/** Track-played envelopes for a burst published straight onto the bus. */
export function playEvents(tracks: readonly string[], n: number, users = 20): EventEnvelope<TrackPlayed>[] {
  const now = Date.now();
  return Array.from({ length: n }, (_, i) =>
    makeEnvelope<TrackPlayed>(Events.trackPlayed.type, {
      userId: `listener-${i % users}`,
      trackId: tracks[i % tracks.length]!,
      playedAt: new Date(now - i).toISOString(),
      msPlayed: 1000 + (i % 5000),
      source: 'faults',
    }),
  );
}

/** Publishes envelopes (confirmed) onto the system's exchange, `parallel` at a time. */
export async function publishAll(system: System, events: readonly EventEnvelope[], parallel = 200) {
  const publisher = await system.publisher();
  for (let i = 0; i < events.length; i += parallel) {
    await Promise.all(events.slice(i, i + parallel).map((e) => publisher.publishEnvelope(e)));
  }
}

/** A logged-in demo client of the system. */
export async function demoClient(system: System): Promise<ApiClient> {
  const api = new ApiClient(system.baseUrl);
  await api.login();
  return api;
}

/** Milliseconds since `start`, rounded. */
export const since = (start: number) => Math.round(Date.now() - start);

export interface Strike<T, R> {
  events: number;
  /** What `find` found, and what `strike` returned. */
  target: T;
  result: R;
  /** Plays stored when the strike came, and when it came after the burst began. */
  storedAtStrike: number;
  struckAfterMs: number;
  figures: PlayFigures;
  /** From the strike until every play was through. */
  settledAfterStrikeMs: number;
  /** The management API's final counts for history's play queue. */
  historyQueue: Record<string, number>;
}

/**
 * Publishes a burst of plays straight onto the bus with the database slowed down (so every
 * worker holds a full prefetch of deliveries while it works), waits until `find` sees what to
 * strike, strikes it mid-work, runs `after` (e.g. restart what was struck), and waits until
 * every play is through.
 */
export async function strikeMidWork<T, R>(
  system: System,
  opts: {
    events: number;
    find: () => Promise<T | undefined>;
    strike: (target: T) => Promise<R>;
    after?: () => Promise<unknown>;
  },
): Promise<Strike<T, R>> {
  const events = playEvents(await trackIds(system), opts.events);
  system.dbProxy.latencyMs = 20;
  const started = Date.now();
  const publishing = publishAll(system, events);
  let target: T;
  let result: R;
  let storedAtStrike: number;
  let struckAt: number;
  try {
    target = (await eventually(opts.find, 30_000)) as T;
    storedAtStrike = await storedPlays(system);
    struckAt = Date.now();
    result = await opts.strike(target);
  } finally {
    system.dbProxy.latencyMs = 0;
  }
  await publishing;
  await opts.after?.();
  const figures = await waitForPlays(
    system,
    events.map((e) => e.id),
  );
  const settledAt = Date.now();
  return {
    events: opts.events,
    target,
    result,
    storedAtStrike,
    struckAfterMs: struckAt - started,
    figures,
    settledAfterStrikeMs: settledAt - struckAt,
    historyQueue: await settledQueueStats(system, 'history.track-played'),
  };
}

/**
 * The stats projection's consumer group now: its members (database backend pids) and which
 * worker (host:pid, as the leader wrote it) leads each partition, by the group's locks.
 */
export async function leadersOf(
  system: System,
  projection: 'stats' | 'report' = 'stats',
): Promise<{ members: number; leaders: Map<number, string> }> {
  const db = system.dbFor('stats');
  const group = await groupState(db, 'stats', projection);
  const { rows } = await db.query<{ log_partition: number; leader: string | null }>(
    'SELECT log_partition, leader FROM stats.projection_offsets WHERE projection = $1',
    [projection],
  );
  const names = new Map(rows.map((r) => [r.log_partition, r.leader ?? '?']));
  const leaders = new Map<number, string>();
  for (const p of group.leaders.keys()) leaders.set(p, names.get(p) ?? '?');
  return { members: group.members.length, leaders };
}

/**
 * Every play statistic of both projections against what history stored (an independent
 * count: its own consumer of its own queue), as the rows that differ per table. Keys and
 * buckets in UTC, as the projections make them. All zero: every stored play counted exactly
 * once everywhere.
 */
export async function statisticMismatches(system: System): Promise<Record<string, number>> {
  const db = playsDb(system);
  const utc = "(played_at AT TIME ZONE 'UTC')";
  const month = `date_trunc('month', ${utc})::date`;
  // Per table: its columns, and the same rows computed from history.plays.
  const checks: Record<string, [columns: string, fromHistory: string]> = {
    track_plays: ['track_id, plays, listeners', 'track_id, count(*), count(DISTINCT user_id)'],
    track_hourly: [
      'hour, track_id, plays',
      `date_trunc('hour', ${utc}) AT TIME ZONE 'UTC', track_id, count(*)`,
    ],
    user_totals: [
      'user_id, plays, ms_played, last_played_at',
      'user_id, count(*), sum(ms_played), max(played_at)',
    ],
    user_tracks: ['user_id, track_id, plays, last_played_at', 'user_id, track_id, count(*), max(played_at)'],
    minute_plays: ['minute, plays', `date_trunc('minute', ${utc}) AT TIME ZONE 'UTC', count(*)`],
    report_tracks: [
      'user_id, month, track_id, plays, ms_played',
      `user_id, ${month}, track_id, count(*), sum(ms_played)`,
    ],
    report_days: ['user_id, day, plays, ms_played', `user_id, ${utc}::date, count(*), sum(ms_played)`],
    report_hours: [
      'user_id, month, weekday, hour, plays',
      `user_id, ${month}, extract(isodow FROM ${utc})::int, extract(hour FROM ${utc})::int, count(*)`,
    ],
  };
  const figures = await Promise.all(
    Object.entries(checks).map(async ([table, [columns, fromHistory]]) => {
      const keys = columns.split(', ').filter((c) => !/^(plays|listeners|ms_played|last_played_at)$/.test(c));
      const groupBy = keys.map((_, i) => i + 1).join(', ');
      // Each row reduced to its text, compared as multisets both ways.
      const { rows } = await db.query<{ n: number }>(
        `WITH e AS (SELECT h::text AS r FROM (SELECT ${fromHistory} FROM history.plays GROUP BY ${groupBy}) h),
              a AS (SELECT s::text AS r FROM (SELECT ${columns} FROM stats.${table}) s)
         SELECT ((SELECT count(*) FROM (SELECT r FROM e EXCEPT ALL SELECT r FROM a) x) +
                 (SELECT count(*) FROM (SELECT r FROM a EXCEPT ALL SELECT r FROM e) y))::int AS n`,
      );
      return [table, rows[0]!.n] as const;
    }),
  );
  return Object.fromEntries(figures);
}
