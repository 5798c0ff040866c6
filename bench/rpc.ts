/**
 * rpc: our RpcClient -> RpcServer against a raw amqplib request/reply pair doing the same
 * work (same broker, same body, same concurrency, direct reply-to, noDelay), alternating rounds
 * in one run. Servers run in a child process, clients here. Both sides send the same AMQP
 * message (body and properties) through the same kind of queue (common/rpc/server.ts
 * `requestQueue`), so the ratio is the cost of our layer alone.
 *
 * BENCH_BROKER_NODES=3 also runs ours on a three-node cluster of the benchmark's own
 * (scripts/broker-cluster.sh), client and servers given all three nodes, alternating with the
 * one-node rounds, and reports the three-node figures with their ratio to the one-node ones.
 */
import { fork } from 'node:child_process';
import amqp from 'amqplib';
import { Broker, RpcClient, requestQueue, urlUser } from '../common/index.js';
import { echoContract } from './echo.js';
import {
  AMQP_URL,
  benchCluster,
  benchNamespace,
  median,
  note,
  percentile,
  pool,
  quiet,
  round,
} from './lib.js';

const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 64);
const CALLS = Number(process.env.BENCH_CALLS ?? 20_000);
const SEQ_CALLS = Number(process.env.BENCH_SEQ_CALLS ?? 2000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

interface Caller {
  call(i: number): Promise<unknown>;
  close(): Promise<void>;
}

async function oursCaller(ns: string, url = AMQP_URL): Promise<Caller> {
  const broker = await Broker.connect({ url, name: 'bench-client', logger: quiet, namespace: ns });
  const client = new RpcClient({ broker, logger: quiet, timeoutMs: 30_000 });
  await client.start();
  const echo = client.bind(echoContract);
  return {
    call: (i) => echo.call('echo', { text: 'hello, world', n: i }),
    close: async () => {
      await client.stop();
      await broker.close();
    },
  };
}

/**
 * Raw amqplib with the message ours sends; `userId: false` leaves out the `user-id` property
 * (the broker checks it against the connection's user), as requests were sent before services
 * took callers only from the gateway's broker user: the pair measures what that check costs.
 */
async function rawCaller(ns: string, { userId = true } = {}): Promise<Caller> {
  const conn = await amqp.connect(AMQP_URL, { noDelay: true });
  const user = urlUser(AMQP_URL);
  const ch = await conn.createChannel();
  const pending = new Map<string, (v: unknown) => void>();
  await ch.consume(
    'amq.rabbitmq.reply-to',
    (msg) => {
      if (!msg) return;
      const resolve = pending.get(msg.properties.correlationId);
      pending.delete(msg.properties.correlationId);
      resolve?.(JSON.parse(msg.content.toString()).result);
    },
    { noAck: true },
  );
  let id = 0;
  return {
    call: (i) =>
      new Promise((resolve) => {
        const cid = String(++id);
        pending.set(cid, resolve);
        const body = JSON.stringify({
          jsonrpc: '2.0',
          id: cid,
          method: 'echo.echo',
          params: { text: 'hello, world', n: i },
        });
        // The same AMQP message ours sends (expiration, deadline header, mandatory), so the
        // comparison measures the library, not the broker's handling of those features.
        ch.publish('', `${ns}.raw`, Buffer.from(body), {
          correlationId: cid,
          replyTo: 'amq.rabbitmq.reply-to',
          expiration: '30000',
          headers: { 'x-deadline': Date.now() + 30_000 },
          mandatory: true,
          contentType: 'application/json',
          ...(userId ? { userId: user } : {}),
        });
      }),
    close: () => conn.close(),
  };
}

async function throughput(c: Caller): Promise<number> {
  const ms = await pool(CALLS, CONCURRENCY, (i) => c.call(i));
  return (CALLS / ms) * 1000;
}

async function sequentialP50(c: Caller): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < SEQ_CALLS; i++) {
    const t = performance.now();
    await c.call(i);
    times.push(performance.now() - t);
  }
  return percentile(
    times.sort((a, b) => a - b),
    50,
  );
}

/** The servers' process (ours and raw) on the broker of `url`; resolves once they serve. */
async function startServers(ns: string, url: string) {
  const child = fork(new URL('./rpc-servers.ts', import.meta.url), [ns, String(CONCURRENCY)], {
    env: { ...process.env, AMQP_URL: url },
    execArgv: [
      '--import',
      'tsx',
      ...(process.env.BENCH_PROFILE ? ['--cpu-prof', '--cpu-prof-dir=.prof'] : []),
    ],
  });
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('exit', (code) => reject(new Error(`server process exited (${code})`)));
  });
  return async () => {
    child.send('stop');
    await new Promise((resolve) => child.once('exit', resolve));
  };
}

/** "classic transient" or "quorum durable": the kind of queue requests travel through. */
function requestQueueKind(): string {
  const q = requestQueue({ name: (n) => n }, 'x');
  return `${q.arguments['x-queue-type'] ?? 'classic'} ${(q.durable ?? true) ? 'durable' : 'transient'}`;
}

export async function runRpcBench(): Promise<Record<string, unknown>> {
  const ns = benchNamespace('rpc');
  const cluster = await benchCluster();
  const stops: Array<() => Promise<void>> = [];
  try {
    stops.push(await startServers(ns, AMQP_URL));
    const ours = await oursCaller(ns);
    const raw = await rawCaller(ns);
    const rawNoUser = await rawCaller(ns, { userId: false });
    stops.push(
      () => ours.close(),
      () => raw.close(),
      () => rawNoUser.close(),
    );
    let three: Caller | null = null;
    if (cluster) {
      stops.push(await startServers(ns, cluster.amqpUrl));
      const caller = await oursCaller(ns, cluster.amqpUrl);
      three = caller;
      stops.push(() => caller.close());
    }
    // warm up every path (JIT, connections, queue processes)
    for (const c of [ours, raw, rawNoUser, three]) if (c) await pool(2000, CONCURRENCY, (i) => c.call(i));
    const o: number[] = [];
    const r: number[] = [];
    const noUser: number[] = [];
    const seqNoUser: number[] = [];
    const os: number[] = [];
    const rs: number[] = [];
    const t: number[] = [];
    const ts: number[] = [];
    for (let round_ = 0; round_ < ROUNDS; round_++) {
      r.push(await throughput(raw));
      o.push(await throughput(ours));
      noUser.push(await throughput(rawNoUser));
      if (three) t.push(await throughput(three));
      rs.push(await sequentialP50(raw));
      os.push(await sequentialP50(ours));
      seqNoUser.push(await sequentialP50(rawNoUser));
      if (three) ts.push(await sequentialP50(three));
      note(
        `round ${round_ + 1}: ours ${o.at(-1)!.toFixed(0)}/s raw ${r.at(-1)!.toFixed(0)}/s raw without user-id ${noUser.at(-1)!.toFixed(0)}/s; seq p50 ours ${os.at(-1)!.toFixed(3)} ms raw ${rs.at(-1)!.toFixed(3)} ms without user-id ${seqNoUser.at(-1)!.toFixed(3)} ms${
          three ? `; three nodes ${t.at(-1)!.toFixed(0)}/s, seq p50 ${ts.at(-1)!.toFixed(3)} ms` : ''
        }`,
      );
    }
    const oursRps = median(o);
    const rawRps = median(r);
    return {
      bench: 'rpc',
      request_queue: requestQueueKind(),
      concurrency: CONCURRENCY,
      ours_rps: Math.round(oursRps),
      raw_rps: Math.round(rawRps),
      // Median of the per-round ratios: each pair ran back to back, so drift cancels out.
      ratio: round(median(o.map((v, i) => v / r[i]!))),
      ours_seq_p50_ms: round(median(os), 3),
      raw_seq_p50_ms: round(median(rs), 3),
      // What the broker-checked user-id costs: raw with it against raw without, round by round.
      user_id: {
        raw_without_rps: Math.round(median(noUser)),
        raw_without_seq_p50_ms: round(median(seqNoUser), 3),
        rps_ratio: round(median(r.map((v, i) => v / noUser[i]!))),
        seq_p50_ratio: round(median(rs.map((v, i) => v / seqNoUser[i]!))),
      },
      ...(three
        ? {
            three_nodes: {
              ours_rps: Math.round(median(t)),
              ours_seq_p50_ms: round(median(ts), 3),
              rps_ratio_to_one_node: round(median(t.map((v, i) => v / o[i]!))),
              seq_p50_ratio_to_one_node: round(median(ts.map((v, i) => v / os[i]!))),
            },
          }
        : {}),
    };
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => {});
    await cluster?.destroy();
  }
}
