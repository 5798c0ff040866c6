/**
 * datascale: how the reads and the rebuild cost grow with the play log. A whole system
 * (bench/system.ts) gets plays generated straight into its tables with COPY, first
 * SMALL (100,000), then up to BENCH_PLAYS_TOTAL (default 10,000,000): spread over the last
 * year, over 10,000 users and every track of the seeded catalog (a few tracks much played).
 * `history.plays` (and `play_ids` for the dedup window) is written from the generator; the
 * statistics tables the reads use (stats and report projections) are then built from it by
 * COPY of the same aggregates the projections keep, so they hold what the projections would
 * have built from those plays.
 *
 * At each size, with plays posted through the gateway beside it (bench/plays.ts's listeners,
 * BENCH_DATASCALE_RATE plays per second), BENCH_DATASCALE_READS calls of each read, one at a
 * time, in turn: `history.recent`, `stats.topTracks` (hour, day, all), `stats.user` and
 * `stats.report` (this year), each for a random one of the 10,000 users; p50 and p99 over RPC;
 * then the hot statements of those reads straight to PostgreSQL the same way (the database's
 * share), and their plans.
 *
 * Rebuild: the time to build the statistics from the play log at N (the COPY of the
 * aggregates, plays per second), and the replay of each projection from a log of
 * BENCH_DATASCALE_REPLAY_SAMPLE plays with the same spread in a namespace of its own
 * (bench/replay.ts); the full replay at N is estimated from that rate (a log of N events
 * would take hours to publish here).
 */
import { randomUUID } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { historyContract, statsContract } from '../common/contracts/index.js';
import {
  Broker,
  config,
  createPool,
  dedupWindowMs,
  type Pool,
  RpcClient,
  withTransaction,
} from '../common/index.js';
import { playLogMonths } from '../services/history/partitions.js';
import { TOP_OF_WINDOW_SQL, WINDOW_INTERVALS } from '../services/stats/handlers.js';
import { reportProjection, statsProjection } from '../services/stats/projections.js';
import { playEnvelope } from '../test/support/plays.js';
import { note, percentile, pool, quiet, round } from './lib.js';
import { listeners } from './plays.js';
import { timeReplay, withReplayLog } from './replay.js';
import { BenchSystem } from './system.js';

const TOTAL = Number(process.env.BENCH_PLAYS_TOTAL ?? 10_000_000);
const SMALL = 100_000;
const USERS = 10_000;
const READS = Number(process.env.BENCH_DATASCALE_READS ?? 400);
/**
 * Plays posted beside the reads. The log itself, 10 million plays in a year by 10,000 users, is
 * 0.3 plays/s on average; 10/s is thirty times that, a busy evening's peak. At 100/s (the
 * default before) the system's own CPU for the plays took most of the two cores here.
 */
const RATE = Number(process.env.BENCH_DATASCALE_RATE ?? 10);
const REPLAY_SAMPLE = Number(process.env.BENCH_DATASCALE_REPLAY_SAMPLE ?? 50_000);
const YEAR_MS = 365 * 86_400_000;
/** Rows per COPY chunk written. */
const CHUNK = 20_000;

/** xorshift32: the same plays for the same seed, fast enough for ten million. */
function generator(seed: number) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4_294_967_296;
  };
}

interface Play {
  userId: string;
  trackId: string;
  playedAt: Date;
  msPlayed: number;
}

/** The n-th play's user, track (skewed: some tracks are hits), time within the year before `now`, and length. */
function plays(trackIds: readonly string[], now: number, seed: number) {
  const random = generator(seed);
  return (): Play => ({
    userId: `ds${Math.floor(random() * USERS)}`,
    trackId: trackIds[Math.floor(random() ** 2 * trackIds.length)]!,
    playedAt: new Date(now - 60_000 - Math.floor(random() * YEAR_MS)),
    msPlayed: 30_000 + Math.floor(random() * 270_000),
  });
}

/** COPY of `count` generated plays into history.plays, and their ids into play_ids inside the dedup window. */
async function copyPlays(history: Pool, count: number, next: () => Play, idsSince: number): Promise<void> {
  await withTransaction(history, async (client) => {
    const ids: string[] = [];
    const stream = client.query(
      copyFrom(
        'COPY plays (event_id, user_id, track_id, played_at, ms_played, source, recorded_at) FROM STDIN',
      ),
    );
    const done = new Promise<void>((resolve, reject) => {
      stream.on('finish', resolve);
      stream.on('error', reject);
    });
    for (let written = 0; written < count; ) {
      const lines: string[] = [];
      const n = Math.min(CHUNK, count - written);
      for (let i = 0; i < n; i++) {
        const p = next();
        const id = randomUUID();
        const at = p.playedAt.toISOString();
        lines.push(`${id}\t${p.userId}\t${p.trackId}\t${at}\t${p.msPlayed}\tbench\t${at}\n`);
        if (p.playedAt.getTime() >= idsSince) ids.push(`${id}\t${at}\n`);
      }
      written += n;
      if (!stream.write(lines.join(''))) await new Promise((r) => stream.once('drain', r));
    }
    stream.end();
    await done;
    await pipeline(
      (function* () {
        for (let i = 0; i < ids.length; i += CHUNK) yield ids.slice(i, i + CHUNK).join('');
      })(),
      client.query(copyFrom('COPY play_ids (event_id, played_at) FROM STDIN')),
    );
  });
}

/** Each statistics table the reads use, and the aggregate of history.plays its projection keeps. */
const AGGREGATES: ReadonlyArray<[table: string, select: string]> = [
  ['track_plays', 'SELECT track_id, count(*), count(DISTINCT user_id) FROM plays GROUP BY 1'],
  [
    'track_hourly',
    `SELECT date_trunc('hour', played_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', track_id, count(*) FROM plays GROUP BY 1, 2`,
  ],
  ['user_totals', 'SELECT user_id, count(*), sum(ms_played), max(played_at) FROM plays GROUP BY 1'],
  ['user_tracks', 'SELECT user_id, track_id, count(*), max(played_at) FROM plays GROUP BY 1, 2'],
  [
    'minute_plays',
    `SELECT date_trunc('minute', played_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', count(*) FROM plays GROUP BY 1`,
  ],
  [
    'report_tracks',
    `SELECT user_id, date_trunc('month', played_at AT TIME ZONE 'UTC')::date, track_id, count(*), sum(ms_played)
     FROM plays GROUP BY 1, 2, 3`,
  ],
  [
    'report_days',
    `SELECT user_id, (played_at AT TIME ZONE 'UTC')::date, count(*), sum(ms_played) FROM plays GROUP BY 1, 2`,
  ],
  [
    'report_hours',
    `SELECT user_id, date_trunc('month', played_at AT TIME ZONE 'UTC')::date,
            extract(isodow FROM played_at AT TIME ZONE 'UTC')::int, extract(hour FROM played_at AT TIME ZONE 'UTC')::int,
            count(*)
     FROM plays GROUP BY 1, 2, 3, 4`,
  ],
];

/**
 * The statistics tables rebuilt from the whole play log: emptied, then each filled by a COPY
 * of its aggregate out of history into stats (they may be on different servers). In one
 * transaction, so the live projection (idle meanwhile: the load is stopped) never sees a
 * half-built table. Resolves with the elapsed ms.
 */
async function rebuildStats(history: Pool, stats: Pool): Promise<number> {
  const started = performance.now();
  const out = await history.connect();
  try {
    // Room for the aggregates in memory rather than spilled to disk (this session only).
    await out.query(`SET work_mem = '256MB'`);
    await withTransaction(stats, async (into) => {
      await into.query(`TRUNCATE ${AGGREGATES.map(([t]) => t).join(', ')}`);
      for (const [table, select] of AGGREGATES) {
        await pipeline(
          out.query(copyTo(`COPY (${select}) TO STDOUT`)),
          into.query(copyFrom(`COPY ${table} FROM STDIN`)),
        );
      }
    });
  } finally {
    await out.query('RESET work_mem').catch(() => {});
    out.release();
  }
  return performance.now() - started;
}

/**
 * VACUUM (ANALYZE) of what was loaded: the tables as autovacuum leaves them in a running
 * system (statistics for the planner, the visibility map index-only scans need), not as a
 * bulk load leaves them.
 */
async function settle(history: Pool, stats: Pool): Promise<void> {
  for (const [table] of AGGREGATES) await stats.query(`VACUUM (ANALYZE) ${table}`);
  await history.query('VACUUM (ANALYZE) plays');
  await history.query('VACUUM (ANALYZE) play_ids');
}

/** Plays posted through the gateway at `rate` per second until stopped (one per request). */
function backgroundPlays(system: BenchSystem, tokens: string[], trackIds: string[], rate: number) {
  let stopped = false;
  let accepted = 0;
  let refused = 0;
  const inFlight = new Set<Promise<void>>();
  const started = performance.now();
  const loop = (async () => {
    for (let n = 0; !stopped; n++) {
      const due = started + (n / rate) * 1000;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      const sent = fetch(`${system.baseUrl}/api/plays`, {
        method: 'POST',
        headers: { authorization: `Bearer ${tokens[n % tokens.length]}`, 'content-type': 'application/json' },
        body: JSON.stringify({ trackId: trackIds[n % trackIds.length], msPlayed: 30_000 }),
      }).then(
        async (res) => {
          await res.arrayBuffer();
          if (res.status === 202) accepted++;
          else refused++;
        },
        () => {
          refused++;
        },
      );
      inFlight.add(sent);
      void sent.finally(() => inFlight.delete(sent));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      await Promise.all(inFlight);
      return { accepted, refused, per_s: round((accepted / (performance.now() - started)) * 1000, 1) };
    },
  };
}

type Reads = Record<string, { p50_ms: number; p99_ms: number }>;

/** READS calls of each read, one at a time, in turn, each for a random user. */
async function measureReads(rpc: RpcClient, seed: number): Promise<Reads> {
  const history = rpc.bind(historyContract);
  const stats = rpc.bind(statsContract);
  const random = generator(seed);
  const year = new Date().getUTCFullYear();
  const caller = () => {
    const userId = `ds${Math.floor(random() * USERS)}`;
    return { caller: { userId, username: userId, admin: false } };
  };
  const reads: Record<string, () => Promise<unknown>> = {
    'history.recent': () => history.call('recent', { limit: 50 }, caller()),
    'stats.topTracks(hour)': () => stats.call('topTracks', { window: 'hour', limit: 10 }),
    'stats.topTracks(day)': () => stats.call('topTracks', { window: 'day', limit: 10 }),
    'stats.topTracks(all)': () => stats.call('topTracks', { window: 'all', limit: 10 }),
    'stats.user': () => stats.call('user', { limit: 10 }, caller()),
    'stats.report': () => stats.call('report', { year }, caller()),
  };
  const times = new Map(Object.keys(reads).map((k) => [k, [] as number[]]));
  // Warm-up: prepared statements, plans, caches.
  for (const read of Object.values(reads)) for (let i = 0; i < 20; i++) await read();
  for (let i = 0; i < READS; i++) {
    for (const [name, read] of Object.entries(reads)) {
      const started = performance.now();
      await read();
      times.get(name)!.push(performance.now() - started);
    }
  }
  return summarize(times);
}

/**
 * The hot statements of the reads, as their handlers send them, for EXPLAIN (ANALYZE, BUFFERS):
 * with their parameters, `$1` a user's id where the statement takes one.
 */
const HOT: ReadonlyArray<[name: string, pool: 'history' | 'stats', sql: string, params?: unknown[]]> = [
  [
    'history.recent',
    'history',
    `SELECT seq, event_id, user_id, track_id, played_at, ms_played, source FROM plays
     WHERE user_id = $1 ORDER BY played_at DESC, seq DESC LIMIT 50`,
  ],
  [
    'stats.topTracks(day)',
    'stats',
    // The handler's own statement, which every caller's answer shares (STATS_CHARTS_MAX_AGE_MS).
    TOP_OF_WINDOW_SQL,
    [WINDOW_INTERVALS.day, 10],
  ],
  [
    'stats.topTracks(all)',
    'stats',
    'SELECT track_id, plays, listeners FROM track_plays ORDER BY listeners DESC, plays DESC, track_id LIMIT 10',
  ],
  [
    'stats.user (top tracks)',
    'stats',
    `SELECT track_id, plays FROM user_tracks WHERE user_id = $1 ORDER BY plays DESC, track_id LIMIT 10`,
  ],
  [
    'stats.report (tracks and months of a year)',
    'stats',
    `SELECT track_id, to_char(month, 'YYYY-MM') AS month, sum(plays) AS plays, sum(ms_played) AS ms
     FROM report_tracks WHERE user_id = $1 AND month >= date_trunc('year', now())::date
       AND month < (date_trunc('year', now()) + interval '1 year')::date
     GROUP BY GROUPING SETS ((track_id), (month))`,
  ],
  [
    'stats.report (weekdays and hours of a year)',
    'stats',
    `SELECT weekday, hour, sum(plays) AS plays FROM report_hours
     WHERE user_id = $1 AND month >= date_trunc('year', now())::date
       AND month < (date_trunc('year', now()) + interval '1 year')::date
     GROUP BY GROUPING SETS ((weekday), (hour))`,
  ],
  [
    'stats.report (streak)',
    'stats',
    `SELECT count(*) AS days, min(day), max(day)
     FROM (SELECT day, day - (row_number() OVER (ORDER BY day))::int AS run FROM report_days
           WHERE user_id = $1 AND day >= date_trunc('year', now())::date
             AND day < (date_trunc('year', now()) + interval '1 year')::date) d
     GROUP BY run ORDER BY count(*) DESC, min(day) LIMIT 1`,
  ],
];

/**
 * The hot statements straight to PostgreSQL, READS times each in turn for a random user (p50
 * and p99 of the round trip: the database's share of each read), then their plans for one
 * user printed to stderr (docs/ARCHITECTURE.md quotes them).
 */
async function hotStatements(
  pools: { history: Pool; stats: Pool },
  size: number,
  seed: number,
): Promise<Reads> {
  const random = generator(seed);
  const times = new Map(HOT.map(([name]) => [name, [] as number[]]));
  for (let i = 0; i < READS; i++) {
    for (const [name, on, sql, fixed] of HOT) {
      const params = fixed ?? (sql.includes('$1') ? [`ds${Math.floor(random() * USERS)}`] : []);
      const started = performance.now();
      await pools[on].query(sql, params);
      times.get(name)!.push(performance.now() - started);
    }
  }
  for (const [name, on, sql, fixed] of HOT) {
    const { rows } = await pools[on].query<{ 'QUERY PLAN': string }>(
      `EXPLAIN (ANALYZE, BUFFERS) ${sql}`,
      fixed ?? (sql.includes('$1') ? ['ds42'] : []),
    );
    note(`--- ${name} at ${size} plays\n${rows.map((r) => r['QUERY PLAN']).join('\n')}`);
  }
  return summarize(times);
}

function summarize(times: Map<string, number[]>): Reads {
  const out: Reads = {};
  for (const [name, list] of times) {
    const sorted = list.sort((a, b) => a - b);
    out[name] = { p50_ms: round(percentile(sorted, 50)), p99_ms: round(percentile(sorted, 99)) };
  }
  return out;
}

/** Waits until history holds `expected` plays and stats has counted every one (the consumers caught up). */
async function drained(system: BenchSystem, expected: number): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const { rows } = await system.db.query<{ stored: string; counted: string }>(
      `SELECT (SELECT count(*) FROM history.plays) AS stored,
              (SELECT coalesce(sum(plays), 0) FROM stats.track_plays) AS counted`,
    );
    if (Number(rows[0]!.stored) === expected && Number(rows[0]!.counted) === expected) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`history and stats did not both reach ${expected} plays within 120 s`);
}

/** Makes the play log's partition of every month of the year behind. */
async function yearOfPartitions(history: Pool, now: number): Promise<void> {
  for (let back = 13; back >= 0; back--) {
    const at = new Date(now);
    const month = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth() - back, 1));
    await history.query('SELECT create_play_partition($1::date)', [month.toISOString().slice(0, 10)]);
  }
}

/** The replay of each projection from a log of `count` plays spread like the loaded ones; plays per second. */
async function replaySample(trackIds: string[], count: number): Promise<Record<string, number>> {
  return withReplayLog('datascale', async (log) => {
    note(`replay sample: publishing ${count} plays into a log of its own`);
    const next = plays(trackIds, Date.now(), 99);
    await pool(count, 500, () => {
      const p = next();
      return log.publisher.publishEnvelope(playEnvelope(p.userId, p.trackId, p.playedAt, p.msPlayed));
    });
    const rates: Record<string, number> = {};
    for (const projection of [statsProjection, reportProjection]) {
      rates[projection.name] = Math.round(await timeReplay(log, projection, count));
      note(`replay sample: ${projection.name} ${rates[projection.name]} plays/s`);
    }
    return rates;
  });
}

export async function runDatascaleBench(): Promise<Record<string, unknown>> {
  if (!Number.isInteger(TOTAL) || TOTAL < SMALL)
    throw new Error(`BENCH_PLAYS_TOTAL should be at least ${SMALL}`);
  const system = await BenchSystem.start({ label: 'datascale' });
  const history = createPool({ url: system.databaseUrl, schema: 'history', max: 2 });
  const stats = createPool({ url: system.databaseUrl, schema: 'stats', max: 2 });
  // As the gateway: history and stats take the user a read is for only from its requests.
  const broker = await Broker.connect({
    url: await system.brokerUrl('gateway'),
    name: 'bench-datascale',
    logger: quiet,
    namespace: system.ns,
  });
  const rpc = new RpcClient({ broker, logger: quiet, timeoutMs: 30_000 });
  await rpc.start();
  try {
    const { rows } = await system.db.query<{ id: string }>('SELECT id FROM catalog.tracks ORDER BY id');
    const trackIds = rows.map((r) => r.id);
    const tokens = await listeners(system);
    const now = Date.now();
    await yearOfPartitions(history, now);
    const idsSince = now - dedupWindowMs(config());
    const next = plays(trackIds, now, 7);
    const sizes: Record<string, unknown>[] = [];
    let loaded = 0;
    /** Plays the gateway accepted so far: they are in history and stats too. */
    let live = 0;
    for (const size of [SMALL, TOTAL]) {
      await drained(system, loaded + live);
      note(`loading ${size - loaded} plays (to ${size}) with COPY`);
      const started = performance.now();
      await copyPlays(history, size - loaded, next, idsSince);
      const copyMs = performance.now() - started;
      loaded = size;
      const rebuildMs = await rebuildStats(history, stats);
      await settle(history, stats);
      const { rows: counts } = await system.db.query<{ plays: string; ids: string; db_mb: string }>(
        `SELECT (SELECT count(*) FROM history.plays) AS plays, (SELECT count(*) FROM history.play_ids) AS ids,
                pg_database_size(current_database()) / 1048576 AS db_mb`,
      );
      note(
        `${counts[0]!.plays} plays in history (${counts[0]!.ids} ids kept), COPY ${Math.round(copyMs)} ms, statistics rebuilt in ${Math.round(rebuildMs)} ms, database ${counts[0]!.db_mb} MB; reading with ${RATE} plays/s beside`,
      );
      const load = backgroundPlays(system, tokens, trackIds, RATE);
      const reads = await measureReads(rpc, size);
      const sql = await hotStatements({ history, stats }, size, size + 1);
      const beside = await load.stop();
      live += beside.accepted;
      note(`${size}: statements alone ${JSON.stringify(sql)}`);
      note(`${size}: ${JSON.stringify(reads)}; plays beside ${JSON.stringify(beside)}`);
      sizes.push({
        plays: Number(counts[0]!.plays),
        copy_plays_per_s: Math.round(((size - (sizes.length === 0 ? 0 : SMALL)) / copyMs) * 1000),
        stats_rebuild_s: round(rebuildMs / 1000, 1),
        stats_rebuild_plays_per_s: Math.round((Number(counts[0]!.plays) / rebuildMs) * 1000),
        database_mb: Number(counts[0]!.db_mb),
        reads,
        statements: sql,
        plays_beside: beside,
      });
    }
    const months = (await playLogMonths(history)).length;
    const replay = await replaySample(trackIds, REPLAY_SAMPLE);
    const [small, large] = sizes as [{ reads: Reads }, { reads: Reads }];
    const ratios = Object.fromEntries(
      Object.entries(large.reads).map(([name, r]) => [name, round(r.p99_ms / small.reads[name]!.p99_ms)]),
    );
    const worstP99 = Math.max(...Object.values(large.reads).map((r) => r.p99_ms));
    return {
      bench: 'datascale',
      plays_total: TOTAL,
      users: USERS,
      tracks: trackIds.length,
      partitions: months,
      reads_per_kind: READS,
      plays_beside_per_s: RATE,
      small: sizes[0],
      large: sizes[1],
      p99_ratio_large_to_small: ratios,
      worst_p99_ms: worstP99,
      targets_met: worstP99 < 20 && Object.values(ratios).every((r) => r <= 2),
      replay_sample: {
        plays: REPLAY_SAMPLE,
        per_s: replay,
        estimated_full_replay_s: Object.fromEntries(
          Object.entries(replay).map(([name, perS]) => [name, Math.round(TOTAL / perS)]),
        ),
      },
    };
  } catch (err) {
    note(await system.logTails());
    throw err;
  } finally {
    await rpc.stop();
    await broker.close();
    await history.end();
    await stats.end();
    await system.stop();
  }
}
