/**
 * replay: how fast a projection is rebuilt from the event log, and how far behind the log the
 * live projection runs.
 *
 * 1. Replay: BENCH_REPLAY_EVENTS plays (default 100 000) in the log of a namespace of its own;
 *    `replayProjection(report)` reads them from the start into fresh tables and swaps them in,
 *    against raw amqplib reading the same stream from the start and acking without doing
 *    anything (same prefetch), alternating rounds; events per second of each and the ratio.
 * 2. Live lag: the stats service running in this process (both projections live), plays
 *    published at BENCH_REPLAY_RATE per second (default 1000) for BENCH_REPLAY_SECONDS (10):
 *    the time from each publish to the commit of the report projection's batch that applied
 *    it, p50 and p99.
 */
import { randomUUID } from 'node:crypto';
import amqp from 'amqplib';
import { SYSTEM } from '../common/contracts/index.js';
import {
  Broker,
  type Config,
  config,
  createPool,
  EventPublisher,
  logRetention,
  migrate,
  type Projection,
  partitionNumbers,
  partitionStream,
  replayProjection,
  startService,
  translateDatabaseError,
} from '../common/index.js';
import { reportProjection, STATS_MIGRATIONS } from '../services/stats/projections.js';
import { statsService } from '../services/stats/service.js';
import { cleanupBroker } from '../test/support/env.js';
import { createDatabase, databaseUrl, dropDatabase } from '../test/support/local-infra.js';
import { playEnvelope } from '../test/support/plays.js';
import { AMQP_URL, benchNamespace, median, note, percentile, pool, quiet, round } from './lib.js';

const EVENTS = Number(process.env.BENCH_REPLAY_EVENTS ?? 100_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const RATE = Number(process.env.BENCH_REPLAY_RATE ?? 1000);
const SECONDS = Number(process.env.BENCH_REPLAY_SECONDS ?? 10);
const PREFETCH = 1000;

/**
 * Raw amqplib: read every partition of the log from the start at once (a channel each, as
 * the replay's readers), ack, do nothing else.
 */
export async function rawRead(ns: string, partitions: number, expected: number): Promise<number> {
  const conn = await amqp.connect(AMQP_URL, { noDelay: true });
  try {
    let seen = 0;
    const started = performance.now();
    const channels = await Promise.all(partitionNumbers(partitions).map(() => conn.createChannel()));
    await new Promise<void>((resolve) => {
      channels.forEach(async (ch, p) => {
        await ch.prefetch(PREFETCH);
        let mine = 0;
        await ch.consume(
          `${ns}.${partitionStream(p)}`,
          (msg) => {
            if (!msg) return;
            seen++;
            // One ack per hundred, as our reader acks a batch at once.
            if (++mine % 100 === 0) ch.ack(msg, true);
            if (seen >= expected) resolve();
          },
          { noAck: false, arguments: { 'x-stream-offset': 'first' } },
        );
      });
    });
    const ms = performance.now() - started;
    await Promise.all(channels.map((ch) => ch.close()));
    return (expected / ms) * 1000;
  } finally {
    await conn.close();
  }
}

/** A namespace and database of their own for a replay: the broker, a publisher on it and the database URL. */
export interface ReplayLog {
  ns: string;
  url: string;
  cfg: Config;
  broker: Broker;
  publisher: EventPublisher;
}

/** Runs `fn` on a fresh namespace and database (stats migrated), and removes both after. */
export async function withReplayLog<T>(label: string, fn: (log: ReplayLog) => Promise<T>): Promise<T> {
  const ns = benchNamespace(label);
  const database = `music_${ns}`;
  await createDatabase(database);
  const url = databaseUrl(database);
  // In process, every part as AMQP_URL's user (as the raw baseline connects).
  const cfg = Object.freeze({
    ...config(),
    databaseUrl: url,
    amqpNamespace: ns,
    logLevel: 'warn',
    brokerUsers: false,
  });
  const broker = await Broker.connect({
    url: AMQP_URL,
    name: `bench-${label}`,
    logger: quiet,
    namespace: ns,
  });
  const publisher = new EventPublisher({ broker, logger: quiet, log: logRetention(cfg) });
  await publisher.start();
  try {
    const live = createPool({ url, schema: 'stats', max: 2 });
    await migrate(live, 'stats', STATS_MIGRATIONS);
    await live.end();
    return await fn({ ns, url, cfg, broker, publisher });
  } finally {
    await publisher.stop();
    await broker.close();
    await cleanupBroker(ns);
    await dropDatabase(database);
  }
}

/** Rebuilds `projection` from the start of the log into fresh tables and swaps them in; events per second. */
export async function timeReplay(log: ReplayLog, projection: Projection, events: number): Promise<number> {
  const started = performance.now();
  await replayProjection({
    projection,
    broker: log.broker,
    databaseUrl: log.url,
    schema: 'stats',
    partitions: log.cfg.eventLogPartitions,
    logger: quiet,
    translateError: translateDatabaseError,
    restart: true,
  });
  return (events / (performance.now() - started)) * 1000;
}

export function runReplayBench(): Promise<Record<string, unknown>> {
  return withReplayLog('replay', async (log) => {
    const { ns, cfg, publisher } = log;
    note(`publishing ${EVENTS} plays into the log`);
    const now = Date.now();
    await pool(EVENTS, 500, (n) =>
      publisher.publishEnvelope(
        playEnvelope(
          `u${n % 1000}`,
          `tr${n % 64}`,
          new Date(now - (n % 365) * 86_400_000),
          60_000 + (n % 1000),
        ),
      ),
    );
    const ours: number[] = [];
    const raw: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      ours.push(await timeReplay(log, reportProjection, EVENTS));
      raw.push(await rawRead(ns, cfg.eventLogPartitions, EVENTS));
      note(`round ${r + 1}: replay ${Math.round(ours[r]!)}/s, raw read ${Math.round(raw[r]!)}/s`);
    }

    note(`live lag: ${RATE} plays/s for ${SECONDS} s with the stats service running`);
    const service = await startService(statsService, { system: SYSTEM, config: cfg, logger: quiet });
    const published = new Map<string, number>();
    const lags: number[] = [];
    const report = service.projections.find((p) => p.name === 'report')!;
    report.observe((records) => {
      const at = performance.now();
      for (const r of records) {
        const sent = r.envelope ? published.get(r.envelope.id) : undefined;
        if (sent !== undefined) lags.push(at - sent);
      }
    });
    // The live projection leads from the offset the last replay swapped in.
    while (!report.leading) await new Promise((r) => setTimeout(r, 100));
    const total = RATE * SECONDS;
    const began = performance.now();
    const sends: Array<Promise<void>> = [];
    for (let n = 0; n < total; n++) {
      const due = began + (n / RATE) * 1000;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      const envelope = playEnvelope(`live-${n % 100}`, `tr${n % 64}`, new Date(), 30_000);
      envelope.id = randomUUID();
      published.set(envelope.id, performance.now());
      sends.push(publisher.publishEnvelope(envelope));
    }
    await Promise.all(sends);
    const until = Date.now() + 30_000;
    while (lags.length < total && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    await service.stop();
    const sorted = [...lags].sort((a, b) => a - b);
    return {
      bench: 'replay',
      events: EVENTS,
      rounds: ROUNDS,
      replay_per_s: Math.round(median(ours)),
      raw_read_per_s: Math.round(median(raw)),
      ratio: round(median(ours.map((o, i) => o / raw[i]!))),
      live_rate_per_s: RATE,
      live_applied: lags.length,
      live_lag_ms: { p50: round(percentile(sorted, 50), 1), p99: round(percentile(sorted, 99), 1) },
    };
  });
}
