import { fork } from 'node:child_process';
import { Agent, request } from 'node:http';
import autocannon, { type Result } from 'autocannon';
import { percentile } from './lib.js';

export interface LoadResult {
  rps: number;
  p50_ms: number;
  p99_ms: number;
  /** Connection errors, timeouts and non-2xx answers. */
  errors: number;
  /** How many of each kind of error (paced load). */
  failures?: Record<string, number>;
}

export interface LoadOptions {
  connections: number;
  durationS: number;
  headers?: Record<string, string>;
}

/**
 * A closed loop: HTTP load with autocannon on `paths` of `baseUrl`, taken in turn by every
 * connection, each sending its next request as soon as the last is answered.
 */
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
    requests: [{ setupRequest: (req) => ({ ...req, path: paths[next++ % paths.length]! }) }],
  });
  return {
    rps: result.requests.total / result.duration,
    p50_ms: result.latency.p50,
    p99_ms: result.latency.p99,
    errors: result.errors + result.non2xx,
  };
}

/** One request of a `postLoad`: where to, as whom, with what. */
export interface PostRequest {
  path: string;
  token: string;
  body: unknown;
}

/**
 * A closed loop of `amount` JSON POSTs over `connections` connections, each built by `next`
 * when it is sent; `onResponse` sees every answer. Resolves with autocannon's result and the
 * elapsed ms, which ends within 10 ms of the last answer (autocannon's default sampling of one
 * second would end it at the next whole second).
 */
export async function postLoad(
  baseUrl: string,
  opts: { connections: number; amount: number },
  next: () => PostRequest,
  onResponse: (status: number, body: string) => void,
): Promise<{ result: Result; elapsedMs: number }> {
  const started = performance.now();
  const result = await autocannon({
    url: baseUrl,
    connections: opts.connections,
    amount: opts.amount,
    timeout: 30,
    sampleInt: 10,
    requests: [
      {
        method: 'POST',
        setupRequest: (req) => {
          const { path, token, body } = next();
          const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
          return { ...req, path, headers, body: JSON.stringify(body) };
        },
        onResponse,
      },
    ],
  });
  return { result, elapsedMs: performance.now() - started };
}

/** One request of an open loop: where to, how, with what (GET without a body by default). */
export interface PacedRequest {
  path: string;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
}

/** What an open loop saw: every answered request's latency, and the failures by kind. */
export interface PacedRun {
  latencies: number[];
  failures: Map<string, number>;
  elapsedMs: number;
}

/**
 * An open loop: requests start at evenly spaced times, `rate` per second, whatever the answers
 * do, over at most `connections` keep-alive connections (a request waits for a free one).
 * Latency runs from a request's scheduled start, so time spent waiting behind slow answers
 * counts (no coordinated omission). autocannon's own rate option sends each second's quota
 * in a burst at the start of the second, which measures a burst, not a steady rate.
 * `next(i)` builds the i-th request; `onAnswer`, when given, sees each answer's body (a 2xx
 * answer it returns false for counts as a failure).
 */
export async function pacedRequests(
  baseUrl: string,
  opts: { connections: number; rate: number; durationS: number },
  next: (i: number) => PacedRequest,
  onAnswer?: (i: number, status: number, body: string) => boolean | undefined,
): Promise<PacedRun> {
  // FIFO spreads requests over every connection, like that many clients; LIFO (the default)
  // would leave some idle until the server's keep-alive timeout closes them under a request.
  const agent = new Agent({ keepAlive: true, maxSockets: opts.connections, scheduling: 'fifo' });
  const { hostname, port } = new URL(baseUrl);
  const total = Math.round(opts.rate * opts.durationS);
  const latencies: number[] = [];
  const failures = new Map<string, number>();
  let sent = 0;
  let settled = 0;
  const started = performance.now();
  const one = (i: number, due: number) =>
    new Promise<void>((resolve) => {
      const done = (failure?: string) => {
        if (failure === undefined) latencies.push(performance.now() - due);
        else failures.set(failure, (failures.get(failure) ?? 0) + 1);
        resolve();
      };
      const { path, method = 'GET', headers, body } = next(i);
      const req = request({ agent, hostname, port, path, method, headers }, (res) => {
        const chunks: Buffer[] = [];
        if (onAnswer) res.on('data', (chunk: Buffer) => chunks.push(chunk));
        else res.resume();
        res.once('end', () => {
          const status = res.statusCode!;
          if (status >= 300) return done(`HTTP ${status}`);
          const ok = onAnswer?.(i, status, Buffer.concat(chunks).toString('utf8'));
          done(ok === false ? 'unexpected answer' : undefined);
        });
        res.once('error', (err) => done(err.message));
      });
      req.setTimeout(30_000, () => req.destroy(new Error('timeout')));
      req.once('error', (err) => done((err as NodeJS.ErrnoException).code ?? err.message));
      req.end(body);
    });
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const now = performance.now();
      while (sent < total && started + (sent * 1000) / opts.rate <= now) {
        const due = started + (sent * 1000) / opts.rate;
        one(sent++, due).then(() => {
          if (++settled === total) resolve();
        });
      }
      if (sent === total) clearInterval(tick);
    }, 1);
  });
  agent.destroy();
  return { latencies, failures, elapsedMs: performance.now() - started };
}

/** An open loop of GETs on `paths`, taken in turn (see `pacedRequests`). */
export async function pacedLoad(
  baseUrl: string,
  paths: readonly string[],
  opts: LoadOptions & { rate: number },
): Promise<LoadResult> {
  const { latencies, failures, elapsedMs } = await pacedRequests(baseUrl, opts, (i) => ({
    path: paths[i % paths.length]!,
    headers: opts.headers,
  }));
  return {
    rps: (latencies.length / elapsedMs) * 1000,
    ...latencySummary(latencies),
    ...failureSummary(failures),
  };
}

/** p50 and p99 of latencies in ms, to a tenth. */
export function latencySummary(latencies: number[]): { p50_ms: number; p99_ms: number } {
  const sorted = [...latencies].sort((a, b) => a - b);
  const ms = (p: number) => Math.round(percentile(sorted, p) * 10) / 10;
  return { p50_ms: ms(50), p99_ms: ms(99) };
}

function failureSummary(failures: Map<string, number>): {
  errors: number;
  failures?: Record<string, number>;
} {
  return {
    errors: [...failures.values()].reduce((a, b) => a + b, 0),
    ...(failures.size > 0 ? { failures: Object.fromEntries(failures) } : {}),
  };
}

export interface BenchServer {
  baseUrl: string;
  pid: number;
  stop(): Promise<void>;
}

/** Starts bench/baseline-server.ts on the run database (a bare express route calling PostgreSQL). */
export function startBaseline(databaseUrl: string, poolSize: number): Promise<BenchServer> {
  return startServer('./baseline-server.ts', [databaseUrl, String(poolSize)]);
}

/** A bench script forked under tsx: its pid, and `stop` (it exits on 'stop'). */
export interface BenchProcess {
  pid: number;
  stop(): Promise<void>;
}

/**
 * Forks a bench script (under tsx) that sends one message once it runs (a server `{port}`, a
 * worker `{ready: true}`) and exits on 'stop'; resolves with that message.
 */
export async function startProcess(
  script: string,
  args: string[],
): Promise<BenchProcess & { first: unknown }> {
  const child = fork(new URL(script, import.meta.url), args, { execArgv: ['--import', 'tsx'] });
  const first = await new Promise<unknown>((resolve, reject) => {
    child.once('message', resolve);
    child.once('exit', (code) => reject(new Error(`${script} exited (${code})`)));
  });
  return {
    first,
    pid: child.pid!,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.send('stop');
      await exited;
    },
  };
}

/** Forks a bench server script (under tsx) that sends `{port}` once listening and exits on 'stop'. */
export async function startServer(script: string, args: string[]): Promise<BenchServer> {
  const { first, pid, stop } = await startProcess(script, args);
  return { baseUrl: `http://127.0.0.1:${(first as { port: number }).port}`, pid, stop };
}
