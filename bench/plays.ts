/**
 * plays: plays posted through the gateway as fast as it takes them until every accepted play
 * is stored in history AND counted in stats, read from the run database. Two ways of posting:
 * `single`, one play per request (POST /api/plays, what a player does as each track ends),
 * and `batched`, several per request (POST /api/plays/batch, what a client does with the plays
 * it kept while offline). Baseline, alternating with each in the same run: raw amqplib doing
 * the broker's part of the same job (persistent, confirmed publishes of the same envelopes to
 * a topic exchange fanned out to two quorum queues, like history and stats, each consumed and
 * acked with the consumers' prefetch), with as many publishes in flight as that mode has plays
 * in flight. The floor, for one play per request: the least a system that accepts, stores and
 * counts a play must do (see `floor`), measured like ours.
 *
 * BENCH_BROKER_NODES=3 also runs a second copy of the system on a three-node cluster of the
 * benchmark's own (every process given all three nodes; the queues replicated on all three),
 * its rounds alternating with the one-node ones, and reports its figures with their ratio to
 * the one-node ones: what replication costs.
 */
import amqp from 'amqplib';
import { Events } from '../common/contracts/index.js';
import { config } from '../common/index.js';
import { backendPids, CpuMeter, medianCpu, perUnit, pidsNamed } from './cpu.js';
import { AMQP_URL, benchCluster, benchNamespace, median, note, pool, round } from './lib.js';
import { type BenchProcess, type BenchServer, postLoad, startProcess, startServer } from './load.js';
import { publishPlay } from './raw-play.js';
import { BenchSystem } from './system.js';

const PLAYS = Number(process.env.BENCH_PLAYS ?? 20_000);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
/** Plays per request and connections of the batched mode. */
const BATCH = Number(process.env.BENCH_BATCH ?? 25);
const BATCH_CONNECTIONS = Number(process.env.BENCH_BATCH_CONNECTIONS ?? 32);

export interface Mode {
  name: 'single' | 'batched';
  connections: number;
  perRequest: number;
}

export const MODES: readonly Mode[] = [
  { name: 'single', connections: CONNECTIONS, perRequest: 1 },
  { name: 'batched', connections: BATCH_CONNECTIONS, perRequest: BATCH },
];
const USERS = 8;
/** What history and stats consumers hold unacked (2 x their batch of 100). */
const PREFETCH = 200;
/** Longest wait for the consumers to catch up after the last play was accepted. */
const DRAIN_TIMEOUT_MS = 120_000;

export interface OursResult {
  acceptedPerS: number;
  storedPerS: number;
  accepted: number;
  rejected: number;
  lost: number;
  /** Plays counted more than once by stats (should be 0). */
  overcounted: number;
  /** Plays per transaction of the history and stats consumers. */
  batch: { history: number };
  /** CPU ms per accepted play, by process group. */
  cpu: Record<string, number>;
  /** Cores the rest of the machine kept busy meanwhile. */
  otherCores: number;
}

interface Figures {
  stored: number;
  counted: number;
}

async function figures(system: BenchSystem): Promise<Figures> {
  const { rows } = await system.db.query<{ stored: number; counted: number }>(
    `SELECT (SELECT count(*) FROM history.plays)::int AS stored,
            (SELECT coalesce(sum(plays), 0) FROM stats.track_plays)::int AS counted`,
  );
  return rows[0]!;
}

/** Registers and logs in `count` users named `<prefix><n>`; their tokens. */
export async function listeners(system: BenchSystem, count = USERS, prefix = 'listener'): Promise<string[]> {
  const tokens: string[] = [];
  for (let i = 1; i <= count; i++) {
    const username = `${prefix}${i}`;
    const password = `bench-password-${i}`;
    const res = await fetch(`${system.baseUrl}/api/users`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username, password }),
    });
    if (res.status !== 201) throw new Error(`register ${username}: ${res.status} ${await res.text()}`);
    tokens.push(await system.login(username, password));
  }
  return tokens;
}

/** The broker processes a copy of the system uses (beam.smp: one node, or a cluster's). */
export type BrokerPids = () => Promise<number[]>;

/** CPU of a copy of the system by process group (and of this process, the load generator). */
export function meter(system: BenchSystem, brokers: BrokerPids): CpuMeter {
  const of = (service: string) =>
    [...system.pids()].filter(([c]) => c === service || c.startsWith(`${service}.`)).map(([, pid]) => pid);
  return new CpuMeter(async () => ({
    gateway: of('gateway'),
    users: of('users'),
    history: of('history'),
    stats: of('stats'),
    postgres: await backendPids(system.db, system.database),
    rabbitmq: await brokers(),
    loadgen: [process.pid],
  }));
}

export async function ours(
  { system, tokens, brokers }: Copy,
  trackIds: string[],
  mode: Mode,
): Promise<OursResult> {
  const before = await figures(system);
  const cpu = meter(system, brokers);
  await cpu.start();
  const ids: string[] = [];
  let rejected = 0;
  let n = 0;
  const play = () => {
    const i = n++;
    return { trackId: trackIds[i % trackIds.length], msPlayed: 30_000 };
  };
  const started = performance.now();
  const { result, elapsedMs: acceptedMs } = await postLoad(
    system.baseUrl,
    { connections: mode.connections, amount: Math.ceil(PLAYS / mode.perRequest) },
    () => ({
      path: mode.perRequest === 1 ? '/api/plays' : '/api/plays/batch',
      token: tokens[n % tokens.length]!,
      body: mode.perRequest === 1 ? play() : { plays: Array.from({ length: mode.perRequest }, play) },
    }),
    (status, body) => {
      if (status !== 202) rejected += mode.perRequest;
      else if (mode.perRequest === 1) ids.push((JSON.parse(body) as { id: string }).id);
      else ids.push(...(JSON.parse(body) as { ids: string[] }).ids);
    },
  );
  const accepted = ids.length;
  // Everything accepted is in history and counted in stats: the end of the pipeline.
  let now = before;
  const deadline = Date.now() + DRAIN_TIMEOUT_MS;
  while (Date.now() < deadline) {
    now = await figures(system);
    if (now.stored - before.stored >= accepted && now.counted - before.counted >= accepted) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const storedMs = performance.now() - started;
  const { other = 0, ...used } = await cpu.stop();
  // A transaction's rows share its now(): distinct timestamps count the consumers' transactions.
  const { rows } = await system.db.query<{
    stored: number;
    counted: number;
    history_tx: number;
  }>(
    `SELECT (SELECT count(*) FROM history.plays WHERE event_id = ANY($1::uuid[]))::int AS stored,
            (SELECT count(DISTINCT recorded_at) FROM history.plays WHERE event_id = ANY($1::uuid[]))::int AS history_tx,
            (SELECT count(*) FROM stats.projection_seen
              WHERE projection = 'stats' AND event_id = ANY($1::uuid[]))::int AS counted`,
    [ids],
  );
  const found = rows[0]!;
  return {
    acceptedPerS: (accepted / acceptedMs) * 1000,
    storedPerS: (Math.min(found.stored, found.counted) / storedMs) * 1000,
    accepted,
    rejected: rejected + result.errors,
    lost: accepted - Math.min(found.stored, found.counted),
    overcounted: Math.max(0, now.counted - before.counted - found.counted),
    batch: { history: round(found.stored / Math.max(1, found.history_tx), 1) },
    cpu: perUnit(used, accepted),
    otherCores: round(other / storedMs),
  };
}

interface RawResult {
  perS: number;
  /** CPU ms per play: the broker, and this process publishing and consuming. */
  cpu: Record<string, number>;
}

/**
 * The broker's side of the job, with raw amqplib: a topic exchange of a namespace of its own
 * fanned out to two quorum queues, like history and stats, each consumed and acked with the
 * consumers' prefetch. `consumed(n)` resolves once both queues have delivered n distinct plays.
 */
async function rawQueues(conn: amqp.ChannelModel) {
  const ns = benchNamespace('plays');
  const ch = await conn.createChannel();
  const exchange = `${ns}.events`;
  const queues = [`${ns}.history`, `${ns}.stats`];
  await ch.assertExchange(exchange, 'topic', { durable: true });
  const seen = queues.map(() => new Set<string>());
  for (const [i, queue] of queues.entries()) {
    await ch.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': config().queueType } });
    await ch.bindQueue(queue, exchange, Events.trackPlayed.type);
    const sub = await conn.createChannel();
    await sub.prefetch(PREFETCH);
    await sub.consume(queue, (msg) => {
      if (!msg) return;
      seen[i]!.add((JSON.parse(msg.content.toString()) as { id: string }).id);
      sub.ack(msg);
    });
  }
  return {
    exchange,
    consumed: (n: number) =>
      new Promise<void>((resolve) => {
        const tick = () => (seen.every((s) => s.size >= n) ? resolve() : setTimeout(tick, 2));
        tick();
      }),
    remove: async () => {
      for (const queue of queues) await ch.deleteQueue(queue);
      await ch.deleteExchange(exchange);
    },
  };
}

/** The broker's share of the same job, with raw amqplib, `window` publishes in flight. */
async function raw(trackIds: string[], window: number, brokers: BrokerPids): Promise<RawResult> {
  const plays = Math.ceil(PLAYS / window) * window;
  const cpu = new CpuMeter(async () => ({ rabbitmq: await brokers(), loadgen: [process.pid] }));
  const conn = await amqp.connect(AMQP_URL, { noDelay: true });
  const queues = await rawQueues(conn).catch(async (err) => {
    await conn.close();
    throw err;
  });
  const { exchange, consumed } = queues;
  try {
    const pub = await conn.createConfirmChannel();
    await cpu.start();
    const started = performance.now();
    await pool(
      plays,
      window,
      (n) =>
        new Promise<void>((resolve, reject) => {
          publishPlay(
            pub,
            exchange,
            {
              userId: `u${n % USERS}`,
              trackId: trackIds[n % trackIds.length]!,
              playedAt: new Date().toISOString(),
              msPlayed: 30_000,
              source: 'api',
            },
            (err) => (err ? reject(err) : resolve()),
          );
        }),
    );
    await consumed(plays);
    return await measured(cpu, started, plays);
  } finally {
    await queues.remove();
    await conn.close();
  }
}

/** Plays per second of a run of `n` plays begun at `started`, and each one's CPU by group. */
async function measured(cpu: CpuMeter, started: number, n: number): Promise<RawResult> {
  const perS = (n / (performance.now() - started)) * 1000;
  const { other: _, ...used } = await cpu.stop();
  return { perS, cpu: perUnit(used, n) };
}

interface FloorResult extends RawResult {
  refused: number;
  lost: number;
}

/** The floor's topology and tables: an exchange, one queue, a schema with plays and counters. */
async function floorStore(conn: amqp.ChannelModel, system: BenchSystem) {
  const ns = benchNamespace('floor');
  const schema = `plays_${ns.replace(/[^a-z0-9]/g, '_')}`;
  const ch = await conn.createChannel();
  const exchange = `${ns}.events`;
  const queue = `${ns}.plays`;
  await ch.assertExchange(exchange, 'topic', { durable: true });
  await ch.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': config().queueType } });
  await ch.bindQueue(queue, exchange, Events.trackPlayed.type);
  await system.db.query(
    `CREATE SCHEMA ${schema};
     CREATE TABLE ${schema}.plays (event_id uuid NOT NULL, user_id text NOT NULL, track_id text NOT NULL,
       played_at timestamptz NOT NULL, ms_played integer NOT NULL);
     CREATE TABLE ${schema}.track_plays (track_id text PRIMARY KEY, plays bigint NOT NULL);`,
  );
  return {
    exchange,
    queue,
    schema,
    figures: async (): Promise<Figures> =>
      (
        await system.db.query<Figures>(
          `SELECT (SELECT count(*) FROM ${schema}.plays)::int AS stored,
                  (SELECT coalesce(sum(plays), 0) FROM ${schema}.track_plays)::int AS counted`,
        )
      ).rows[0]!,
    remove: async () => {
      await ch.deleteQueue(queue);
      await ch.deleteExchange(exchange);
      await system.db.query(`DROP SCHEMA ${schema} CASCADE`);
    },
  };
}

/**
 * The floor of one play per request, the least a system that accepts, stores and counts a
 * play must do: the same load as ours on bench/plays-floor-server.ts (express, express.json(),
 * one route publishing the envelope with a confirm and answering 202) and
 * bench/plays-floor-consumer.ts (one consumer inserting each play and upserting a counter per
 * track, a batch per statement) in the run database, until every accepted play is stored and
 * counted. Measured like ours: stored and counted plays per second from the first request.
 */
async function floor(
  system: BenchSystem,
  trackIds: string[],
  mode: Mode,
  brokers: BrokerPids,
): Promise<FloorResult> {
  const conn = await amqp.connect(AMQP_URL, { noDelay: true });
  const store = await floorStore(conn, system).catch(async (err) => {
    await conn.close();
    throw err;
  });
  let server: BenchServer | null = null;
  let consumer: BenchProcess | null = null;
  try {
    consumer = await startProcess('./plays-floor-consumer.ts', [
      AMQP_URL,
      store.queue,
      system.databaseUrl,
      store.schema,
    ]);
    server = await startServer('./plays-floor-server.ts', [AMQP_URL, store.exchange]);
    const pids = { server: [server.pid], consumer: [consumer.pid] };
    const cpu = new CpuMeter(async () => ({
      ...pids,
      postgres: await backendPids(system.db, system.database),
      rabbitmq: await brokers(),
      loadgen: [process.pid],
    }));
    let n = 0;
    let accepted = 0;
    await cpu.start();
    const started = performance.now();
    await postLoad(
      server.baseUrl,
      { connections: mode.connections, amount: PLAYS },
      () => ({
        path: '/api/plays',
        token: `token-${n % USERS}`,
        body: { trackId: trackIds[n++ % trackIds.length], msPlayed: 30_000 },
      }),
      (status) => {
        if (status === 202) accepted++;
      },
    );
    let now: Figures = { stored: 0, counted: 0 };
    const deadline = Date.now() + DRAIN_TIMEOUT_MS;
    while (Date.now() < deadline) {
      now = await store.figures();
      if (now.stored >= accepted && now.counted >= accepted) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const done = Math.min(now.stored, now.counted, accepted);
    return {
      ...(await measured(cpu, started, done)),
      refused: PLAYS - accepted,
      lost: accepted - done,
    };
  } finally {
    await server?.stop();
    await consumer?.stop();
    await store.remove();
    await conn.close();
  }
}

interface ModeRuns {
  ours: OursResult[];
  raw: RawResult[];
  /** One play per request only. */
  floor: FloorResult[];
}

/** Ours against the floor of the same rounds (one play per request). */
function floorSummary(o: OursResult[], f: FloorResult[]) {
  if (f.length === 0) return {};
  return {
    floor_per_s: Math.round(median(f.map((x) => x.perS))),
    ratio_to_floor: round(median(o.map((x, i) => x.storedPerS / f[i]!.perS))),
    // Each round's ratio, in order, and their spread (largest less smallest).
    ratio_to_floor_rounds: o.map((x, i) => round(x.storedPerS / f[i]!.perS)),
    ratio_to_floor_spread: round(
      Math.max(...o.map((x, i) => x.storedPerS / f[i]!.perS)) -
        Math.min(...o.map((x, i) => x.storedPerS / f[i]!.perS)),
    ),
    floor_refused: f.reduce((n, x) => n + x.refused, 0),
    floor_lost: f.reduce((n, x) => n + x.lost, 0),
    floor_cpu_ms_per_play: medianCpu(f),
  };
}

function summary(mode: Mode, { ours: o, raw: r, floor: f }: ModeRuns) {
  return {
    plays_per_request: mode.perRequest,
    connections: mode.connections,
    accepted_per_s: Math.round(median(o.map((x) => x.acceptedPerS))),
    stored_per_s: Math.round(median(o.map((x) => x.storedPerS))),
    refused: o.reduce((n, x) => n + x.rejected, 0),
    lost: o.reduce((n, x) => n + x.lost, 0),
    overcounted: o.reduce((n, x) => n + x.overcounted, 0),
    raw_window: mode.connections * mode.perRequest,
    raw_per_s: Math.round(median(r.map((x) => x.perS))),
    // Each round's two sides ran back to back: their ratio is the least disturbed figure.
    ratio: round(median(o.map((x, i) => x.storedPerS / r[i]!.perS))),
    ...floorSummary(o, f),
    plays_per_transaction: {
      history: median(o.map((x) => x.batch.history)),
    },
    cpu_ms_per_play: medianCpu(o),
    raw_cpu_ms_per_play: medianCpu(r),
    other_cores: median(o.map((x) => x.otherCores)),
  };
}

/** The same mode on the three-node system, against the one-node rounds it alternated with. */
function threeNodeSummary(three: OursResult[], one: OursResult[]) {
  return {
    accepted_per_s: Math.round(median(three.map((x) => x.acceptedPerS))),
    stored_per_s: Math.round(median(three.map((x) => x.storedPerS))),
    refused: three.reduce((n, x) => n + x.rejected, 0),
    lost: three.reduce((n, x) => n + x.lost, 0),
    overcounted: three.reduce((n, x) => n + x.overcounted, 0),
    stored_ratio_to_one_node: round(median(three.map((x, i) => x.storedPerS / one[i]!.storedPerS))),
    cpu_ms_per_play: medianCpu(three),
  };
}

export interface Copy {
  system: BenchSystem;
  tokens: string[];
  brokers: BrokerPids;
}

export async function copy(system: BenchSystem, brokers: BrokerPids): Promise<Copy> {
  return { system, tokens: await listeners(system), brokers };
}

export async function runPlaysBench(): Promise<Record<string, unknown>> {
  const cluster = await benchCluster();
  const systems: BenchSystem[] = [];
  try {
    const nodePids = cluster ? (await cluster.status()).flatMap((n) => (n.pid === null ? [] : [n.pid])) : [];
    systems.push(await BenchSystem.start({ label: 'plays' }));
    // The machine's broker: every beam.smp but the cluster's.
    const one = await copy(systems[0]!, async () =>
      pidsNamed('beam.smp').filter((p) => !nodePids.includes(p)),
    );
    let three: Copy | null = null;
    if (cluster) {
      systems.push(
        await BenchSystem.start({
          label: 'plays3',
          env: { AMQP_URL: cluster.amqpUrl, BROKER_MANAGEMENT_URL: cluster.nodes[0]!.managementUrl },
        }),
      );
      three = await copy(systems[1]!, async () => nodePids);
    }
    const { rows } = await one.system.db.query<{ id: string }>('SELECT id FROM catalog.tracks ORDER BY id');
    const trackIds = rows.map((r) => r.id);
    const runs = new Map<Mode, ModeRuns & { three: OursResult[] }>(
      MODES.map((mode) => [mode, { ours: [], raw: [], floor: [], three: [] }]),
    );
    for (let i = 0; i < ROUNDS; i++) {
      for (const mode of MODES) {
        const { ours: o, raw: r, floor: f, three: t } = runs.get(mode)!;
        const window = mode.connections * mode.perRequest;
        const baselines = async () => {
          r.push(await raw(trackIds, window, one.brokers));
          if (mode.perRequest === 1) f.push(await floor(one.system, trackIds, mode, one.brokers));
        };
        // Which side goes first alternates, so a drift in the machine's load hits both alike.
        if (i % 2 === 0) await baselines();
        o.push(await ours(one, trackIds, mode));
        if (three) t.push(await ours(three, trackIds, mode));
        if (i % 2 === 1) await baselines();
        const last = o.at(-1)!;
        const lastFloor = mode.perRequest === 1 ? f.at(-1)! : null;
        note(
          `round ${i + 1} ${mode.name} (${mode.perRequest} per request, ${mode.connections} connections): accepted ${last.acceptedPerS.toFixed(0)}/s stored ${last.storedPerS.toFixed(0)}/s (accepted ${last.accepted}, refused ${last.rejected}, lost ${last.lost}, overcounted ${last.overcounted}; plays per transaction ${JSON.stringify(last.batch)}; cpu ms/play ${JSON.stringify(last.cpu)}; other work ${last.otherCores} cores); raw ${r.at(-1)!.perS.toFixed(0)}/s with ${window} in flight (cpu ms/play ${JSON.stringify(r.at(-1)!.cpu)})${
            lastFloor
              ? `; floor ${lastFloor.perS.toFixed(0)}/s stored and counted, ours/floor ${(last.storedPerS / lastFloor.perS).toFixed(2)} (refused ${lastFloor.refused}, lost ${lastFloor.lost}; cpu ms/play ${JSON.stringify(lastFloor.cpu)})`
              : ''
          }${
            three
              ? `; three nodes: accepted ${t.at(-1)!.acceptedPerS.toFixed(0)}/s stored ${t.at(-1)!.storedPerS.toFixed(0)}/s (lost ${t.at(-1)!.lost}; cpu ms/play ${JSON.stringify(t.at(-1)!.cpu)})`
              : ''
          }`,
        );
      }
    }
    const [single, batched] = MODES.map((mode) => summary(mode, runs.get(mode)!));
    return {
      bench: 'plays',
      plays: PLAYS,
      rounds: ROUNDS,
      queue_type: config().queueType,
      ...single,
      batched,
      ...(three
        ? {
            three_nodes: Object.fromEntries(
              MODES.map((mode) => [mode.name, threeNodeSummary(runs.get(mode)!.three, runs.get(mode)!.ours)]),
            ),
          }
        : {}),
    };
  } catch (err) {
    for (const system of systems) note(await system.logTails());
    throw err;
  } finally {
    for (const system of systems) await system.stop();
    await cluster?.destroy();
  }
}
