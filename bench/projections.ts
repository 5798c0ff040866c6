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
 * 3. Replay: `replayProjection(stats)` over every partition at once, against a raw read of
 *    every partition (amqplib, a channel each, ack only), end to end (the rebuild schema's
 *    migrations, reading the log's bounds and the swap included).
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
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { translateDatabaseError } from '../common/db/errors.js';
import { dropSchema, migrate } from '../common/db/migrate.js';
import { createPool, type Pool } from '../common/db/pool.js';
import { partitionNumbers } from '../common/events/partitions.js';
import { replayProjection } from '../common/projections/replay.js';
import { groupLockKeys, groupState } from '../common/projections/runner.js';
import { STATS_MIGRATIONS, statsProjection } from '../services/stats/projections.js';
import { playEnvelope } from '../test/support/plays.js';
import { AMQP_URL, median, note, pool, quiet, round } from './lib.js';
import { rawRead, withReplayLog } from './replay.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const EVENTS = Number(process.env.BENCH_PROJ_EVENTS ?? 24_000);
const ORDER = [1, 2, 4, 4, 2, 1];
const SIZES = [1, 2, 4];
const PROJECTIONS = ['stats', 'report'];
/** The round trip to a database on another machine, before every statement of a batch. */
const LATENCY_MS = Number(process.env.BENCH_PROJ_LATENCY_MS ?? 500);

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
): Promise<{ perSecond: number; members: number; counts: Record<string, number> }> {
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
  const deadline = Date.now() + 600_000;
  for (;;) {
    const n = await applied(db);
    if (n >= EVENTS) break;
    if (Date.now() > deadline) throw new Error(`${workers} workers applied ${n} of ${EVENTS} in 10 minutes`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const perSecond = (EVENTS / (performance.now() - started)) * 1000;
  return { perSecond, members, counts: await counted(db) };
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
    const db = createPool({ url, schema: 'stats', max: 2 });
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
      let lost = 0;
      let twice = 0;
      for (const w of ORDER) {
        const { perSecond, members, counts } = await timeWorkers(w, db, startSh, cfg.eventLogPartitions);
        measured.set(w, [...(measured.get(w) ?? []), perSecond]);
        for (const n of Object.values(counts)) {
          lost += Math.max(0, EVENTS - n);
          twice += Math.max(0, n - EVENTS);
        }
        load.push(loadavg()[0]!);
        note(
          `${w} stats worker(s) (${members} in the group): ${Math.round(perSecond)} plays/s applied; counted ${JSON.stringify(counts)}`,
        );
      }
      await startSh('scale', 'stats', '0');
      const rate = (w: number) => median(measured.get(w)!);
      const spread = (w: number) => measured.get(w)!.map((r) => Math.round(r));
      note('replay of the stats projection over every partition, against a raw read');
      const replays: number[] = [];
      const raws: number[] = [];
      for (let r = 0; r < 2; r++) {
        const started = performance.now();
        await replayProjection({
          projection: statsProjection,
          broker: log.broker,
          databaseUrl: url,
          schema: 'stats',
          partitions: cfg.eventLogPartitions,
          logger: quiet,
          translateError: translateDatabaseError,
          restart: true,
        });
        replays.push((EVENTS / (performance.now() - started)) * 1000);
        raws.push(await rawRead(ns, cfg.eventLogPartitions, EVENTS));
        note(
          `round ${r + 1}: replay ${Math.round(replays[r]!)}/s end to end; raw read ${Math.round(raws[r]!)}/s`,
        );
      }
      load.push(loadavg()[0]!);
      return {
        bench: 'projections',
        events: EVENTS,
        partitions: cfg.eventLogPartitions,
        db_latency_ms: LATENCY_MS,
        applied_per_s: Object.fromEntries(SIZES.map((w) => [`w${w}`, Math.round(rate(w))])),
        runs_per_s: Object.fromEntries(SIZES.map((w) => [`w${w}`, spread(w)])),
        speedup_2: round(rate(2) / rate(1)),
        speedup_4: round(rate(4) / rate(1)),
        lost,
        counted_twice: twice,
        replay_per_s: Math.round(median(replays)),
        raw_read_per_s: Math.round(median(raws)),
        replay_ratio: round(median(replays.map((r, i) => r / raws[i]!))),
        load_1m: { min: round(Math.min(...load), 2), max: round(Math.max(...load), 2) },
      };
    } finally {
      await supervisor('stop').catch((err: Error) => note(err.message));
      await rm(runDir, { recursive: true, force: true });
      await db.end();
    }
  });
}
