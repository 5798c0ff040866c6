import { fork } from 'node:child_process';
import autocannon from 'autocannon';

export interface LoadResult {
  rps: number;
  p50_ms: number;
  p99_ms: number;
  /** Connection errors, timeouts and non-2xx answers. */
  errors: number;
}

export interface LoadOptions {
  connections: number;
  durationS: number;
  headers?: Record<string, string>;
  /** Requests per second over all connections; as fast as answered by default. */
  rate?: number;
}

/** HTTP load with autocannon on `paths` of `baseUrl`, taken in turn by every connection. */
export async function httpLoad(
  baseUrl: string,
  paths: readonly string[],
  opts: LoadOptions,
): Promise<LoadResult> {
  let next = 0;
  const result = await autocannon({
    url: baseUrl,
    connections: opts.connections,
    duration: opts.durationS,
    headers: opts.headers ?? {},
    ...(opts.rate ? { overallRate: opts.rate } : {}),
    requests: [{ setupRequest: (req) => ({ ...req, path: paths[next++ % paths.length]! }) }],
  });
  return {
    rps: result.requests.total / result.duration,
    p50_ms: result.latency.p50,
    p99_ms: result.latency.p99,
    errors: result.errors + result.non2xx,
  };
}

export interface BaselineServer {
  baseUrl: string;
  pid: number;
  stop(): Promise<void>;
}

/** Starts bench/baseline-server.ts on the run database (a bare express route calling PostgreSQL). */
export async function startBaseline(databaseUrl: string, poolSize: number): Promise<BaselineServer> {
  const child = fork(new URL('./baseline-server.ts', import.meta.url), [databaseUrl, String(poolSize)], {
    execArgv: ['--import', 'tsx'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m) => resolve((m as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`baseline server exited (${code})`)));
  });
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    pid: child.pid!,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.send('stop');
      await exited;
    },
  };
}
