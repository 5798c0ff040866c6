/**
 * http: what HTTP handling alone costs, per request, on this machine: `POST /api/plays` with a
 * play's JSON body answered 202 by node:http and by express with express.json() and one route
 * (bench/http-server.ts), under the same load as the `plays` benchmark's one-play-per-request
 * mode (64 connections, a fresh body and bearer token per request, each answer parsed).
 * Alternating rounds, CPU per request of the server and of the load generator. It is the floor
 * under the gateway's cost per play: no auth, no broker, no logs, no metrics.
 */
import { CpuMeter, medianCpu, perUnit } from './cpu.js';
import { median, note } from './lib.js';
import { type BenchServer, postLoad, startServer } from './load.js';

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 40_000);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const KINDS = ['node', 'express'] as const;
type Kind = (typeof KINDS)[number];

interface Run {
  rps: number;
  /** CPU ms per request: the server, and the load generator. */
  cpu: Record<string, number>;
}

async function load(server: BenchServer): Promise<Run> {
  const cpu = new CpuMeter(async () => ({ server: [server.pid], loadgen: [process.pid] }));
  let n = 0;
  let failed = 0;
  await cpu.start();
  const { result, elapsedMs } = await postLoad(
    server.baseUrl,
    { connections: CONNECTIONS, amount: REQUESTS },
    () => ({
      path: '/api/plays',
      token: `token-${n % 8}`,
      body: { trackId: `tr${n++ % 64}`, msPlayed: 30_000 },
    }),
    (status, body) => {
      if (status !== 202 || typeof (JSON.parse(body) as { id?: unknown }).id !== 'string') failed++;
    },
  );
  const { other: _, ...used } = await cpu.stop();
  const done = result.requests.total;
  if (failed > 0 || result.errors > 0)
    throw new Error(`${failed + result.errors} of ${done} requests failed`);
  return {
    rps: (done / elapsedMs) * 1000,
    cpu: perUnit(used, done),
  };
}

export async function runHttpBench(): Promise<Record<string, unknown>> {
  const servers = {} as Record<Kind, BenchServer>;
  try {
    for (const kind of KINDS) servers[kind] = await startServer('./http-server.ts', [kind]);
    const runs: Record<Kind, Run[]> = { node: [], express: [] };
    for (const kind of KINDS) await load(servers[kind]); // warm-up
    for (let r = 0; r < ROUNDS; r++) {
      for (const kind of r % 2 === 0 ? KINDS : [...KINDS].reverse()) {
        const run = await load(servers[kind]);
        note(`round ${r + 1} ${kind}: ${run.rps.toFixed(0)}/s; cpu ms/req ${JSON.stringify(run.cpu)}`);
        runs[kind].push(run);
      }
    }
    const summary = (kind: Kind) => ({
      rps: Math.round(median(runs[kind].map((x) => x.rps))),
      cpu_ms_per_req: medianCpu(runs[kind]),
    });
    return {
      bench: 'http',
      requests: REQUESTS,
      connections: CONNECTIONS,
      rounds: ROUNDS,
      node: summary('node'),
      express: summary('express'),
    };
  } finally {
    for (const server of Object.values(servers)) await server.stop();
  }
}
