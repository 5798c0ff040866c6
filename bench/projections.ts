/**
 * projections: how fast the stats service turns plays into statistics with 1, 2 and 4 stats
 * workers, started as an operator does (`./start.sh scale stats N`), and how fast a projection
 * is rebuilt from every partition at once.
 *
 * 1. BENCH_PROJ_EVENTS plays (default 24 000; 2 000 users, 200 tracks) go into the
 *    partitioned log of a namespace and database of their own.
 * 2. A supervisor of the benchmark's own (scripts/supervisor.ts, RUN_DIR in a temporary
 *    folder) runs the stats workers; for each worker count w (1, 2, 4, then again 4, 2, 1, so
 *    a drift in the machine's load hits each alike): `./start.sh scale stats 0`, the stats
 *    tables made afresh, `./start.sh scale stats w`, and the time from the first batch
 *    committed to the last while the w workers share the partitions of both projections
 *    (`stats` and `report`) and apply the whole log. Events per second: plays applied by both
 *    projections per second. After each size, every play must be counted exactly once: the
 *    plays of track_plays, user_totals and report_tracks each add up to the plays published.
 *    The first time at each size, once the log is applied, plays go on arriving at
 *    BENCH_PROJ_LIVE_RATE per second (default 100) for BENCH_PROJ_LIVE_SECONDS (8): the lag
 *    of every partition of both projections (events behind its partition's end, read as
 *    /metrics' `projection_lag_events` is) is sampled meanwhile; its p99 over the samples is
 *    the live lag at that size, overall and per partition.
 * 4. History: its consumer group's quorum queue with 1, 2 and 4 history workers (`./start.sh
 *    scale history N`, the same modelled round trip before every batch it stores), each time
 *    with BENCH_PROJ_HISTORY_EVENTS plays (default 8 000) sent to its queue once all N
 *    consume, until the play log holds them all. History needs no order among plays: each is
 *    stored once by its event id, whichever worker stores it first.
 * 3. Replay: `replayProjection(stats)` over every partition at once, against a raw read of
 *    every partition (amqplib, a channel each, ack only), end to end (the rebuild schema's
 *    migrations, finding the log's ends and the swap included). History has nothing to
 *    replay: its play log is the store the statistics could be rebuilt from, not a view of
 *    the event log.
 *
 * Every worker, PostgreSQL and RabbitMQ share the machine's two cores, so a worker is modelled
 * as it would run on a machine of its own against a database on another: a small pool
 * (DB_POOL_SIZE 4) and a round trip of BENCH_PROJ_LATENCY_MS (default 500 ms) before every
 * statement of a batch's transaction (PROJECTION_DB_LATENCY_MS). The waits take no CPU and
 * hold the transaction open, locks included, as a remote database's round trips do; what one
 * more worker adds then shows until the two shared cores run out. With 0 the figures are the
 * bare CPU-bound case, bounded by the cores (bench/README.md says how busy the machine was).
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import amqp from 'amqplib';
import { Events } from '../common/contracts/index.js';
import {
  type Broker,
  createPool,
  dropSchema,
  type EventPublisher,
  groupLockKeys,
  groupState,
  logPartitionEnds,
  migrate,
  type Pool,
  partitionNumbers,
  projectionStandings,
  queueNames,
  replayProjection,
  translateDatabaseError,
} from '../common/index.js';
import { STATS_MIGRATIONS, statsProjection } from '../services/stats/projections.js';
import { playEnvelope } from '../test/support/plays.js';
import { AMQP_URL, median, note, percentile, pool, quiet, round } from './lib.js';
import { rawRead, withReplayLog } from './replay.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const EVENTS = Number(process.env.BENCH_PROJ_EVENTS ?? 24_000);
const ORDER = [1, 2, 4, 4, 2, 1];
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SIZES = [1, 2, 4];
const PROJECTIONS = ['stats', 'report'];
/** The round trip to a database on another machine, before every statement of a batch. */
const LATENCY_MS = Number(process.env.BENCH_PROJ_LATENCY_MS ?? 500);
const LIVE_RATE = Number(process.env.BENCH_PROJ_LIVE_RATE ?? 100);
const LIVE_SECONDS = Number(process.env.BENCH_PROJ_LIVE_SECONDS ?? 8);
const HISTORY_EVENTS = Number(process.env.BENCH_PROJ_HISTORY_EVENTS ?? 8000);

/** Plays applied by both projections so far (sum over partitions). */
async function applied(db: Pool): Promise<number> {
  const { rows } = await db
    .query<{ n: string }>(
      `SELECT coalesce(min(s), 0) AS n FROM
         (SELECT projection, sum(applied) AS s FROM projection_offsets GROUP BY projection) t`,
    )
    .catch(() => ({ rows: [{ n: '0' }] }));
  const { rows: both } = await db
    .query<{ n: number }>('SELECT count(DISTINCT projection)::int AS n FROM projection_offsets')
    .catch(() => ({ rows: [{ n: 0 }] }));
  return both[0]!.n === 2 ? Number(rows[0]!.n) : 0;
}

/** Plays counted by each statistic: every one should say EVENTS. */
async function counted(db: Pool): Promise<Record<string, number>> {
  const { rows } = await db.query<Record<string, string>>(
    `SELECT (SELECT coalesce(sum(plays), 0) FROM track_plays) AS track_plays,
            (SELECT coalesce(sum(plays), 0) FROM user_totals) AS user_totals,
            (SELECT coalesce(sum(plays), 0) FROM minute_plays) AS minute_plays,
            (SELECT coalesce(sum(plays), 0) FROM report_tracks) AS report_tracks`,
  );
  return Object.fromEntries(Object.entries(rows[0]!).map(([k, v]) => [k, Number(v)]));
}

type Run = (...args: string[]) => Promise<string>;

function command(file: string, prefix: string[], env: NodeJS.ProcessEnv): Run {
  return (...args) =>
    new Promise((resolve, reject) => {
      execFile(file, [...prefix, ...args], { cwd: ROOT, env }, (err, stdout, stderr) =>
        err
          ? reject(new Error(`${file} ${args.join(' ')}: ${err.message}\n${stdout}${stderr}`))
          : resolve(stdout),
      );
    });
}

/**
 * Events per second applied by `workers` stats workers from an empty projection to the log's
 * end. Workers that start one after the other (tens of seconds apart on a busy machine) would
 * have the first ones apply much of the log alone: so the benchmark holds every partition's
 * lock of both groups until all `workers` have joined, then lets go, and the clock starts.
 */
async function timeWorkers(
  workers: number,
  db: Pool,
  startSh: Run,
  partitions: number,
  total: number,
): Promise<{ perSecond: number; members: number }> {
  await startSh('scale', 'stats', '0');
  await dropSchema(db, 'stats');
  await migrate(db, 'stats', STATS_MIGRATIONS);
  const hold = await db.connect();
  let members = 0;
  let started = 0;
  try {
    for (const projection of PROJECTIONS) {
      for (const p of partitionNumbers(partitions)) {
        await hold.query('SELECT pg_advisory_lock(hashtext($1), $2)', [
          groupLockKeys('stats', projection).partition,
          p + 1,
        ]);
      }
    }
    await startSh('scale', 'stats', String(workers));
    const joined = async () =>
      Math.min(
        ...(await Promise.all(PROJECTIONS.map((p) => groupState(db, 'stats', p)))).map(
          (g) => g.members.length,
        ),
      );
    for (;;) {
      members = await joined();
      if (members >= workers) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    started = performance.now();
    await hold.query('SELECT pg_advisory_unlock_all()');
  } finally {
    hold.release();
  }
  await appliedAll(db, total, workers);
  const perSecond = (total / (performance.now() - started)) * 1000;
  return { perSecond, members };
}

/** Waits until both projections have applied `total` plays. */
async function appliedAll(db: Pool, total: number, workers: number): Promise<void> {
  const deadline = Date.now() + 600_000;
  for (;;) {
    const n = await applied(db);
    if (n >= total) return;
    if (Date.now() > deadline) throw new Error(`${workers} workers applied ${n} of ${total} in 10 minutes`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Plays at LIVE_RATE per second for LIVE_SECONDS while the workers run, the lag of every
 * partition of both projections sampled meanwhile (as /metrics reads it): the samples per
 * partition, and how many plays were published.
 */
async function liveLag(
  db: Pool,
  broker: Broker,
  publisher: EventPublisher,
  partitions: number,
): Promise<{ samples: Map<string, number[]>; published: number }> {
  const samples = new Map<string, number[]>();
  let sending = true;
  const sampler = (async () => {
    while (sending) {
      const ends = await logPartitionEnds(broker, partitions, db);
      for (const projection of PROJECTIONS) {
        for (const s of await projectionStandings(db, 'stats', projection, ends)) {
          const key = `${projection}/${s.partition}`;
          samples.set(key, [...(samples.get(key) ?? []), s.lag]);
        }
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  const count = LIVE_RATE * LIVE_SECONDS;
  const began = performance.now();
  const sends: Array<Promise<void>> = [];
  for (let n = 0; n < count; n++) {
    const wait = began + (n / LIVE_RATE) * 1000 - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    sends.push(publisher.publishEnvelope(playEnvelope(`live${n % 500}`, `tr${n % 200}`, new Date(), 30_000)));
  }
  await Promise.all(sends);
  sending = false;
  await sampler;
  return { samples, published: count };
}

/** The p99 of a list of lags (0 of none). */
const p99 = (values: number[]) =>
  values.length
    ? percentile(
        [...values].sort((a, b) => a - b),
        99,
      )
    : 0;

/**
 * Plays per second stored by `workers` history workers: the play log emptied, the workers
 * started and consuming, then HISTORY_EVENTS plays sent to their queue at once, until all
 * are stored.
 */
async function timeHistory(workers: number, hdb: Pool, startSh: Run, queue: string): Promise<number> {
  await startSh('scale', 'history', '0');
  const conn = await amqp.connect(AMQP_URL);
  try {
    // The queue is declared with the system's topology, so it holds every play published
    // so far (the stats runs'): empty it, and the play log (not there before the first
    // history worker has run its migrations).
    const purge = await conn.createChannel();
    purge.on('error', () => {});
    await purge.purgeQueue(queue).catch(() => {});
    await purge.close().catch(() => {});
    await hdb.query('TRUNCATE plays, play_ids').catch(() => {});
    await startSh('scale', 'history', String(workers));
    for (;;) {
      const ch = await conn.createChannel();
      ch.on('error', () => {});
      const consumers = await ch
        .checkQueue(queue)
        .then((q) => q.consumerCount)
        .catch(() => 0);
      await ch.close().catch(() => {});
      if (consumers >= workers) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const ch = await conn.createConfirmChannel();
    const started = performance.now();
    const now = Date.now();
    for (let n = 0; n < HISTORY_EVENTS; n++) {
      const envelope = playEnvelope(
        `u${n % 2000}`,
        `tr${n % 200}`,
        new Date(now - (n % 86_400) * 1000),
        60_000,
      );
      envelope.id = randomUUID();
      ch.sendToQueue(queue, Buffer.from(JSON.stringify(envelope)), {
        persistent: true,
        messageId: envelope.id,
        type: envelope.type,
        contentType: 'application/json',
      });
    }
    await ch.waitForConfirms();
    const deadline = Date.now() + 600_000;
    for (;;) {
      const { rows } = await hdb.query<{ n: number }>('SELECT count(*)::int AS n FROM plays');
      if (rows[0]!.n >= HISTORY_EVENTS) break;
      if (Date.now() > deadline)
        throw new Error(`${workers} history workers stored ${rows[0]!.n} of ${HISTORY_EVENTS}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const perSecond = (HISTORY_EVENTS / (performance.now() - started)) * 1000;
    const { rows } = await hdb.query<{ n: number }>('SELECT count(*)::int AS n FROM plays');
    if (rows[0]!.n !== HISTORY_EVENTS)
      throw new Error(`history stored ${rows[0]!.n} plays of ${HISTORY_EVENTS}`);
    return perSecond;
  } finally {
    await conn.close().catch(() => {});
  }
}

export function runProjectionsBench(): Promise<Record<string, unknown>> {
  return withReplayLog('projections', async (log) => {
    const { ns, cfg, publisher, url } = log;
    const load = [loadavg()[0]!];
    note(`publishing ${EVENTS} plays into ${cfg.eventLogPartitions} partitions`);
    const now = Date.now();
    await pool(EVENTS, 500, (n) =>
      publisher.publishEnvelope(
        playEnvelope(`u${(n * 7919) % 2000}`, `tr${n % 200}`, new Date(now - (n % 86_400) * 1000), 60_000),
      ),
    );
    let total = EVENTS;
    const db = createPool({ url, schema: 'stats', max: 2 });
    const hdb = createPool({ url, schema: 'history', max: 2 });
    const runDir = await mkdtemp(join(tmpdir(), 'bench-projections-'));
    const env = {
      ...process.env,
      RUN_DIR: runDir,
      AMQP_URL,
      AMQP_NAMESPACE: ns,
      DATABASE_URL: url,
      LOG_LEVEL: 'warn',
      TOKEN_SECRET: 'a-bench-token-secret-of-at-least-32-bytes',
      BROKER_USERS: 'false',
      DB_POOL_SIZE: '4',
      PROJECTION_DB_LATENCY_MS: String(LATENCY_MS),
    };
    const supervisor = command(join(ROOT, 'scripts/run.sh'), ['scripts/supervisor'], env);
    // The operator's command; it talks to the supervisor running for RUN_DIR.
    const startSh = command(join(ROOT, 'start.sh'), [], env);
    try {
      await supervisor('scale', 'stats', '0');
      const measured = new Map<number, number[]>();
      const lags = new Map<number, { p99: number; perPartition: Record<string, number> }>();
      let lost = 0;
      let twice = 0;
      const check = async () => {
        const counts = await counted(db);
        for (const n of Object.values(counts)) {
          lost += Math.max(0, total - n);
          twice += Math.max(0, n - total);
        }
        return counts;
      };
      for (const w of ORDER) {
        const { perSecond, members } = await timeWorkers(w, db, startSh, cfg.eventLogPartitions, total);
        measured.set(w, [...(measured.get(w) ?? []), perSecond]);
        const counts = await check();
        load.push(loadavg()[0]!);
        note(
          `${w} stats worker(s) (${members} in the group): ${Math.round(perSecond)} plays/s applied; counted ${JSON.stringify(counts)}`,
        );
        if (lags.has(w) || LIVE_SECONDS <= 0) continue;
        const live = await liveLag(db, log.broker, publisher, cfg.eventLogPartitions);
        total += live.published;
        await appliedAll(db, total, w);
        const perPartition = Object.fromEntries([...live.samples].map(([k, v]) => [k, p99(v)]));
        const lag = { p99: p99([...live.samples.values()].flat()), perPartition };
        lags.set(w, lag);
        note(
          `${w} stats worker(s), ${LIVE_RATE} plays/s live: lag p99 ${lag.p99} events; per partition ${JSON.stringify(perPartition)}; counted ${JSON.stringify(await check())}`,
        );
      }
      await startSh('scale', 'stats', '0');
      const rate = (w: number) => median(measured.get(w)!);
      const spread = (w: number) => measured.get(w)!.map((r) => Math.round(r));
      note('replay of the stats projection over every partition, against a raw read');
      const replays: number[] = [];
      const raws: number[] = [];
      const phases: Array<Record<string, number>> = [];
      for (let r = 0; r < ROUNDS; r++) {
        const started = performance.now();
        const result = await replayProjection({
          projection: statsProjection,
          broker: log.broker,
          databaseUrl: url,
          schema: 'stats',
          partitions: cfg.eventLogPartitions,
          logger: quiet,
          translateError: translateDatabaseError,
          restart: true,
        });
        replays.push((total / (performance.now() - started)) * 1000);
        phases.push(result.phases);
        raws.push(await rawRead(ns, cfg.eventLogPartitions, total));
        note(
          `round ${r + 1}: replay ${Math.round(replays[r]!)}/s end to end (${JSON.stringify(result.phases)} ms); raw read ${Math.round(raws[r]!)}/s; ratio ${round(replays[r]! / raws[r]!)}`,
        );
      }
      // History: plays go straight to its consumer group's queue from here.
      const queue = queueNames(log.broker, { group: 'history', event: Events.trackPlayed.type }).main;
      const history = new Map<number, number[]>();
      let historyError: string | undefined;
      if (HISTORY_EVENTS > 0) {
        try {
          for (const w of ORDER) {
            const perSecond = await timeHistory(w, hdb, startSh, queue);
            history.set(w, [...(history.get(w) ?? []), perSecond]);
            load.push(loadavg()[0]!);
            note(`${w} history worker(s): ${Math.round(perSecond)} plays/s stored, each once`);
          }
        } catch (err) {
          historyError = (err as Error).message;
          note(`history: ${historyError}`);
        }
        await startSh('scale', 'history', '0');
      }
      const hrate = (w: number) => median(history.get(w) ?? []);
      load.push(loadavg()[0]!);
      return {
        bench: 'projections',
        events: EVENTS,
        log_events: total,
        partitions: cfg.eventLogPartitions,
        db_latency_ms: LATENCY_MS,
        applied_per_s: Object.fromEntries(SIZES.map((w) => [`w${w}`, Math.round(rate(w))])),
        runs_per_s: Object.fromEntries(SIZES.map((w) => [`w${w}`, spread(w)])),
        speedup_2: round(rate(2) / rate(1)),
        speedup_4: round(rate(4) / rate(1)),
        lost,
        counted_twice: twice,
        live_rate_per_s: LIVE_RATE,
        lag_p99_events: Object.fromEntries([...lags].map(([w, l]) => [`w${w}`, l.p99])),
        lag_p99_worst_partition: Object.fromEntries(
          [...lags].map(([w, l]) => [`w${w}`, Math.max(0, ...Object.values(l.perPartition))]),
        ),
        history_events: HISTORY_EVENTS,
        history_per_s: Object.fromEntries(SIZES.map((w) => [`w${w}`, Math.round(hrate(w))])),
        history_runs_per_s: Object.fromEntries(
          SIZES.map((w) => [`w${w}`, (history.get(w) ?? []).map((r) => Math.round(r))]),
        ),
        history_speedup_2: round(hrate(2) / hrate(1)),
        history_speedup_4: round(hrate(4) / hrate(1)),
        ...(historyError ? { history_error: historyError } : {}),
        replay_per_s: Math.round(median(replays)),
        raw_read_per_s: Math.round(median(raws)),
        replay_ratio: round(median(replays.map((r, i) => r / raws[i]!))),
        replay_ratios: replays.map((r, i) => round(r / raws[i]!)),
        replay_phases_ms: phases,
        load_1m: { min: round(Math.min(...load), 2), max: round(Math.max(...load), 2) },
      };
    } finally {
      await supervisor('stop').catch((err: Error) => note(err.message));
      await rm(runDir, { recursive: true, force: true });
      await db.end();
      await hdb.end();
    }
  });
}
