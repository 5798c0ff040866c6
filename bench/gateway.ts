/**
 * gateway: HTTP load on `GET /api/tracks/:id` and `GET /api/search?q=` through the whole path
 * (gateway -> RPC over RabbitMQ -> catalog worker -> PostgreSQL), against a bare express route
 * running the catalog's own SQL directly on the same database, alternating rounds in one run.
 * The system is started with ./start.sh (one worker per service) in its own namespace and
 * database. Besides throughput and latency under saturation (a closed loop of CONNECTIONS
 * clients, where latency is mostly queueing: Little's law gives CONNECTIONS / rate), it
 * reports latency at half of our measured rate for both sides (an open loop: requests at
 * evenly spaced times, not saturated) and where the CPU goes per request.
 */
import { backendPids, CpuMeter, medianCpu, perUnit, pidsNamed } from './cpu.js';
import { median, note, round } from './lib.js';
import { httpLoad, type LoadResult, pacedLoad, startBaseline } from './load.js';
import { BenchSystem } from './system.js';

const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
const DURATION_S = Number(process.env.BENCH_DURATION ?? 20);
const WARMUP_S = Number(process.env.BENCH_WARMUP ?? 3);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
/** A catalog worker's pool size (DB_POOL_SIZE's default): the baseline gets the same. */
const POOL_SIZE = 10;

/** Search terms that match artists, albums and tracks of the seed catalog, and one that matches nothing. */
const SEARCH_TERMS = ['blue', 'night', 'neon', 'zoe', 'velvet', 'cafe', 'static', 'aurora', 'qqq'];

export interface Route {
  route: string;
  paths: string[];
}

/** The two routes, over every seeded track and a few search terms. */
export async function gatewayRoutes(system: BenchSystem): Promise<Route[]> {
  const { rows } = await system.db.query<{ id: string }>('SELECT id FROM catalog.tracks ORDER BY id');
  if (rows.length === 0) throw new Error('the catalog is empty');
  return [
    { route: 'GET /api/tracks/:id', paths: rows.map((r) => `/api/tracks/${r.id}`) },
    { route: 'GET /api/search?q=', paths: SEARCH_TERMS.map((q) => `/api/search?q=${encodeURIComponent(q)}`) },
  ];
}

type Side = 'ours' | 'baseline';
type Run = LoadResult & {
  cpu: Record<string, number>;
  /** Cores the rest of the machine kept busy meanwhile: the noise this run had to live with. */
  otherCores: number;
};

export async function runGatewayBench(): Promise<Record<string, unknown>> {
  const system = await BenchSystem.start({ label: 'gateway' });
  const baseline = await startBaseline(system.databaseUrl, POOL_SIZE).catch(async (err) => {
    await system.stop();
    throw err;
  });
  try {
    const routes = await gatewayRoutes(system);
    const targets: Record<Side, string> = { ours: system.baseUrl, baseline: baseline.baseUrl };
    // Where the CPU goes, per request: each process of the path, the database's backends, the
    // broker (shared with whatever else runs on the machine) and the load generator itself.
    const meter = new CpuMeter(async () => ({
      gateway: [system.pids().get('gateway') ?? 0],
      catalog: [...system.pids()].filter(([c]) => c.startsWith('catalog.')).map(([, pid]) => pid),
      baseline: [baseline.pid],
      postgres: await backendPids(system.db, system.database),
      rabbitmq: pidsNamed('beam.smp'),
      loadgen: [process.pid],
    }));
    const measure = async (side: Side, route: Route, rate?: number): Promise<Run> => {
      await meter.start();
      const load = { connections: CONNECTIONS, durationS: DURATION_S };
      const res = rate
        ? await pacedLoad(targets[side], route.paths, { ...load, rate })
        : await httpLoad(targets[side], route.paths, load);
      const { other = 0, ...used } = await meter.stop();
      const requests = Math.max(1, res.rps * DURATION_S);
      const cpu = perUnit(used, requests);
      const otherCores = round(other / (DURATION_S * 1000));
      note(
        `${route.route} ${side}${rate ? ` at ${rate}/s` : ''}: ${res.rps.toFixed(0)}/s p50 ${res.p50_ms} ms p99 ${res.p99_ms} ms errors ${res.errors}${res.failures ? ` ${JSON.stringify(res.failures)}` : ''}; cpu ms/req ${JSON.stringify(cpu)}; other work ${otherCores} cores`,
      );
      return { ...res, cpu, otherCores };
    };

    for (const route of routes) {
      for (const url of Object.values(targets)) {
        await httpLoad(url, route.paths, { connections: CONNECTIONS, durationS: WARMUP_S });
      }
    }
    const runs = routes.map(() => ({ ours: [] as Run[], baseline: [] as Run[] }));
    for (let r = 0; r < ROUNDS; r++) {
      // Which side goes first alternates, so a drift in the machine's load hits both alike.
      const order: Side[] = r % 2 === 0 ? ['baseline', 'ours'] : ['ours', 'baseline'];
      for (const [i, route] of routes.entries()) {
        for (const side of order) runs[i]![side].push(await measure(side, route));
      }
    }
    const halfLoad: Array<Record<Side, Run>> = [];
    for (const [i, route] of routes.entries()) {
      const rate = Math.round(median(runs[i]!.ours.map((x) => x.rps)) / 2);
      halfLoad.push({
        ours: await measure('ours', route, rate),
        baseline: await measure('baseline', route, rate),
      });
    }

    return {
      bench: 'gateway',
      connections: CONNECTIONS,
      duration_s: DURATION_S,
      rounds: ROUNDS,
      routes: routes.map((route, i) => {
        const { ours, baseline: base } = runs[i]!;
        return {
          route: route.route,
          rps: Math.round(median(ours.map((x) => x.rps))),
          p50_ms: median(ours.map((x) => x.p50_ms)),
          p99_ms: median(ours.map((x) => x.p99_ms)),
          errors: ours.reduce((n, x) => n + x.errors, 0) + halfLoad[i]!.ours.errors,
          baseline_rps: Math.round(median(base.map((x) => x.rps))),
          baseline_p50_ms: median(base.map((x) => x.p50_ms)),
          baseline_p99_ms: median(base.map((x) => x.p99_ms)),
          // Each round's two sides ran back to back: their ratio is the least disturbed figure.
          ratio: round(median(ours.map((x, r) => x.rps / base[r]!.rps))),
          half_load_rps: Math.round(halfLoad[i]!.ours.rps),
          half_load_p50_ms: halfLoad[i]!.ours.p50_ms,
          half_load_p99_ms: halfLoad[i]!.ours.p99_ms,
          baseline_half_load_p50_ms: halfLoad[i]!.baseline.p50_ms,
          baseline_half_load_p99_ms: halfLoad[i]!.baseline.p99_ms,
          cpu_ms_per_req: medianCpu(ours, ['gateway', 'catalog', 'postgres', 'rabbitmq', 'loadgen']),
          baseline_cpu_ms_per_req: medianCpu(base, ['baseline', 'postgres', 'loadgen']),
          other_cores: median([...ours, ...base].map((x) => x.otherCores)),
        };
      }),
    };
  } catch (err) {
    note(await system.logTails());
    throw err;
  } finally {
    await baseline.stop();
    await system.stop();
  }
}
