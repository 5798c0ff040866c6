/**
 * scale: how calls per second grow with the number of catalog workers. Every RPC handler waits
 * HANDLER_DELAY_MS (a bench-only setting) and each worker takes PREFETCH requests at a time, so
 * a worker is I/O-bound like one waiting on a slow database, and adding workers (with
 * `./start.sh scale catalog N`, the operator's way) is what adds capacity. Many concurrent
 * catalog.getTrack calls from an RpcClient keep the request queue full. Worker counts are
 * visited up and back down (1 2 4 4 2 1), so a drift in the machine's load hits each alike.
 */

import { catalogContract } from '../common/contracts/index.js';
import { Broker, RpcClient } from '../common/index.js';
import { AMQP_URL, note, quiet, round } from './lib.js';
import { BenchSystem } from './system.js';

const WORKERS = [1, 2, 4];
const DELAY_MS = Number(process.env.BENCH_HANDLER_DELAY_MS ?? 20);
const PREFETCH = Number(process.env.BENCH_SCALE_PREFETCH ?? 2);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 64);
const WINDOW_S = Number(process.env.BENCH_DURATION ?? 8);

/** Calls with `concurrency` in flight for `seconds`; completed calls per second. */
async function callsPerSecond(
  call: () => Promise<unknown>,
  concurrency: number,
  seconds: number,
): Promise<number> {
  const started = performance.now();
  const until = started + seconds * 1000;
  let done = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) {
        await call();
        done++;
      }
    }),
  );
  return (done / (performance.now() - started)) * 1000;
}

export async function runScaleBench(): Promise<Record<string, unknown>> {
  const system = await BenchSystem.start({
    label: 'scale',
    env: { PREFETCH: String(PREFETCH), HANDLER_DELAY_MS: String(DELAY_MS) },
  });
  const broker = await Broker.connect({
    url: AMQP_URL,
    name: 'bench-scale',
    logger: quiet,
    namespace: system.ns,
  });
  const client = new RpcClient({ broker, logger: quiet, timeoutMs: 60_000 });
  try {
    await client.start();
    const catalog = client.bind(catalogContract);
    const { rows } = await system.db.query<{ id: string }>('SELECT id FROM catalog.tracks ORDER BY id');
    let n = 0;
    const call = () => catalog.call('getTrack', { id: rows[n++ % rows.length]!.id });
    const measured = new Map<number, number[]>(WORKERS.map((w) => [w, []]));
    let running = 1;
    for (const workers of [...WORKERS, ...[...WORKERS].reverse()]) {
      if (workers !== running) {
        await system.scale('catalog', workers);
        running = workers;
      }
      await callsPerSecond(call, CONCURRENCY, 1); // the new workers' connections and JIT warm up
      const perS = await callsPerSecond(call, CONCURRENCY, WINDOW_S);
      measured.get(workers)!.push(perS);
      note(`${workers} catalog worker(s): ${perS.toFixed(1)} calls/s`);
    }
    const perS = WORKERS.map((w) => {
      const xs = measured.get(w)!;
      return xs.reduce((a, b) => a + b, 0) / xs.length;
    });
    return {
      bench: 'scale',
      handler_delay_ms: DELAY_MS,
      prefetch: PREFETCH,
      concurrency: CONCURRENCY,
      workers: WORKERS,
      per_s: perS.map((x) => round(x, 1)),
      // What one worker's prefetch allows at best: PREFETCH calls per delay.
      ideal_per_worker_per_s: round((PREFETCH * 1000) / DELAY_MS, 1),
      speedup_2: round(perS[1]! / perS[0]!),
      speedup_4: round(perS[2]! / perS[0]!),
    };
  } catch (err) {
    note(await system.logTails());
    throw err;
  } finally {
    await client.stop();
    await broker.close();
    await system.stop();
  }
}
