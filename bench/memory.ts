/**
 * memory: resident memory (VmRSS from /proc/<pid>/status) of every process of the system,
 * idle and under load: the gateway benchmark's two routes plus authenticated plays (so the
 * history and stats consumers work too), from CONNECTIONS clients for DURATION seconds.
 * `loaded_mb` is each process's peak while loaded, sampled every 250 ms; `after_mb` is read
 * once the load stopped (growth that stays there would be a leak). `start_to_health_s` is what
 * ./start.sh printed: seconds from its start to green /health, one worker per service.
 */
import autocannon from 'autocannon';
import { CpuMeter, perUnit } from './cpu.js';
import { gatewayRoutes } from './gateway.js';
import { note, round } from './lib.js';
import { BenchSystem, rssMb } from './system.js';

const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 64);
const DURATION_S = Number(process.env.BENCH_DURATION ?? 20);
const SAMPLE_MS = 250;

function snapshot(system: BenchSystem): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [comp, pid] of system.pids()) {
    const mb = rssMb(pid);
    if (mb !== null) out[comp] = round(mb, 1);
  }
  return out;
}

export async function runMemoryBench(): Promise<Record<string, unknown>> {
  const system = await BenchSystem.start({ label: 'memory' });
  try {
    const token = await system.login();
    const [tracks, search] = await gatewayRoutes(system);
    const trackIds = tracks!.paths.map((p) => p.slice(p.lastIndexOf('/') + 1));
    // Let start-up garbage settle before the idle reading.
    await new Promise((r) => setTimeout(r, 3000));
    const idle = snapshot(system);
    note(`idle MB ${JSON.stringify(idle)}`);

    // CPU per request of each process over the load: what a smaller heap costs in collections.
    const meter = new CpuMeter(async () =>
      Object.fromEntries([...system.pids()].map(([c, pid]) => [c, [pid]])),
    );
    await meter.start();
    const peak: Record<string, number> = { ...idle };
    const sampler = setInterval(() => {
      for (const [comp, mb] of Object.entries(snapshot(system))) peak[comp] = Math.max(peak[comp] ?? 0, mb);
    }, SAMPLE_MS);
    let n = 0;
    const pick = (paths: string[]) => paths[n++ % paths.length]!;
    const loading = autocannon({
      url: system.baseUrl,
      connections: CONNECTIONS,
      duration: DURATION_S,
      requests: [
        { setupRequest: (req) => ({ ...req, method: 'GET', path: pick(tracks!.paths) }) },
        { setupRequest: (req) => ({ ...req, method: 'GET', path: pick(search!.paths) }) },
        {
          setupRequest: (req) => ({
            ...req,
            method: 'POST',
            path: '/api/plays',
            headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
            body: JSON.stringify({ trackId: pick(trackIds) }),
          }),
        },
      ],
    });
    const result = await Promise.resolve(loading).finally(() => clearInterval(sampler));
    const { other: _other, ...used } = await meter.stop();
    const cpu = perUnit(used, Math.max(1, result.requests.total));
    const rps = result.requests.total / result.duration;
    note(
      `load: ${rps.toFixed(0)} requests/s, errors ${result.errors + result.non2xx}; peak MB ${JSON.stringify(peak)}`,
    );
    await new Promise((r) => setTimeout(r, 2000));
    const after = snapshot(system);
    const services = Object.entries(peak).filter(([comp]) => comp !== 'gateway');
    return {
      bench: 'memory',
      connections: CONNECTIONS,
      duration_s: DURATION_S,
      load_rps: Math.round(rps),
      errors: result.errors + result.non2xx,
      idle_mb: idle,
      loaded_mb: peak,
      after_mb: after,
      max_service_loaded_mb: Math.max(...services.map(([, mb]) => mb)),
      cpu_ms_per_req: cpu,
      start_to_health_s: system.startToHealthS,
    };
  } catch (err) {
    note(await system.logTails());
    throw err;
  } finally {
    await system.stop();
  }
}
