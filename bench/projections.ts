/**
 * projections: how fast the stats service turns plays into statistics with 1, 2 and 3 stats
 * workers, and how fast a projection is rebuilt from every partition at once.
 *
 * 1. BENCH_PROJ_EVENTS plays (default 60 000; 2 000 users, 200 tracks) go into the
 *    partitioned log of a namespace and database of their own.
 * 2. For each worker count w (1, 2, 3, then again 3, 2, 1, so a drift in the machine's load
 *    hits each alike): the stats tables are made afresh, w stats workers are started as
 *    processes (`scripts/run.sh scripts/service stats`, as start.sh runs them), and the time
 *    from the first batch committed to the last is taken while they share the partitions of
 *    both projections (`stats` and `report`) and apply the whole log. Events per second: plays
 *    applied by both projections per second.
 * 3. Replay: `replayProjection(stats)` over every partition at once, against a raw read of
 *    every partition (amqplib, a channel each, ack only).
 *
 * Every worker, PostgreSQL and RabbitMQ share the machine's two cores, so a worker is modelled
 * as limited by something of its own, the way `scale` does it: each batch waits
 * BENCH_PROJ_DELAY_MS (400 ms) first (DELAY_MS below). With 0 the figures are the
 * bare CPU-bound case, bounded by the cores (bench/README.md says how busy the machine was).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { translateDatabaseError } from '../common/db/errors.js';
import { dropSchema, migrate } from '../common/db/migrate.js';
import { createPool, type Pool } from '../common/db/pool.js';
import { replayProjection } from '../common/projections/replay.js';
import { groupState } from '../common/projections/runner.js';
import { STATS_MIGRATIONS, statsProjection } from '../services/stats/projections.js';
import { playEnvelope } from '../test/support/plays.js';
import { AMQP_URL, median, note, pool, quiet, round } from './lib.js';
import { rawRead, withReplayLog } from './replay.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const EVENTS = Number(process.env.BENCH_PROJ_EVENTS ?? 60_000);
const ORDER = [1, 2, 3, 3, 2, 1];
/**
 * The model of a worker limited by something of its own rather than by the shared cores: each
 * batch (500 plays under a backlog) first waits this long on the worker's connection
 * (PROJECTION_BATCH_DELAY_MS), about 1 ms of waiting per play, as a store on another machine
 * would cost; the wait takes no CPU, so what one more worker adds shows until the two shared
 * cores run out. 0 measures the bare CPU-bound case.
 */
const DELAY_MS = Number(process.env.BENCH_PROJ_DELAY_MS ?? 400);

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

function startWorker(env: Record<string, string>): { child: ChildProcess; exited: Promise<void> } {
  const child = spawn(join(ROOT, 'scripts/run.sh'), ['scripts/service', 'stats'], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return { child, exited: new Promise((resolve) => child.once('exit', () => resolve())) };
}

/** Events per second applied by `workers` stats workers from an empty projection to the log's end. */
async function timeWorkers(
  workers: number,
  db: Pool,
  env: Record<string, string>,
): Promise<{ perSecond: number; members: number }> {
  await dropSchema(db, 'stats');
  await migrate(db, 'stats', STATS_MIGRATIONS);
  const procs = Array.from({ length: workers }, () => startWorker(env));
  try {
    let first = 0;
    let members = 0;
    const deadline = Date.now() + 600_000;
    for (;;) {
      const n = await applied(db);
      if (n > 0 && first === 0) first = performance.now();
      members = Math.max(members, (await groupState(db, 'stats', 'stats')).members.length);
      if (n >= EVENTS) break;
      if (Date.now() > deadline)
        throw new Error(`${workers} workers applied ${n} of ${EVENTS} in 10 minutes`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return { perSecond: (EVENTS / (performance.now() - first)) * 1000, members };
  } finally {
    for (const p of procs) p.child.kill('SIGTERM');
    await Promise.all(procs.map((p) => p.exited));
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
    const db = createPool({ url, schema: 'stats', max: 2 });
    const env = {
      AMQP_URL,
      AMQP_NAMESPACE: ns,
      DATABASE_URL: url,
      LOG_LEVEL: 'warn',
      TOKEN_SECRET: 'a-bench-token-secret-of-at-least-32-bytes',
      DB_POOL_SIZE: '5',
      PROJECTION_BATCH_DELAY_MS: String(DELAY_MS),
    };
    try {
      const measured = new Map<number, number[]>();
      for (const w of ORDER) {
        const { perSecond, members } = await timeWorkers(w, db, env);
        measured.set(w, [...(measured.get(w) ?? []), perSecond]);
        load.push(loadavg()[0]!);
        note(`${w} stats worker(s) (${members} in the group): ${Math.round(perSecond)} plays/s applied`);
      }
      const rate = (w: number) => median(measured.get(w)!);
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
        note(`round ${r + 1}: replay ${Math.round(replays[r]!)}/s, raw read ${Math.round(raws[r]!)}/s`);
      }
      load.push(loadavg()[0]!);
      return {
        bench: 'projections',
        events: EVENTS,
        partitions: cfg.eventLogPartitions,
        batch_delay_ms: DELAY_MS,
        applied_per_s: Object.fromEntries([1, 2, 3].map((w) => [`w${w}`, Math.round(rate(w))])),
        speedup_2: round(rate(2) / rate(1)),
        speedup_3: round(rate(3) / rate(1)),
        replay_per_s: Math.round(median(replays)),
        raw_read_per_s: Math.round(median(raws)),
        replay_ratio: round(median(replays.map((r, i) => r / raws[i]!))),
        load_1m: { min: round(Math.min(...load), 2), max: round(Math.max(...load), 2) },
      };
    } finally {
      await db.end();
    }
  });
}
