/** The part of autocannon's programmatic API the benchmarks use (the package ships no types). */
declare module 'autocannon' {
  interface Histogram {
    average: number;
    mean: number;
    min: number;
    max: number;
    p50: number;
    p90: number;
    p99: number;
    total: number;
  }

  interface RawRequest {
    method?: string;
    path?: string;
    headers?: Record<string, string>;
    body?: string | Buffer;
  }

  interface Request extends RawRequest {
    setupRequest?: (req: RawRequest, context: Record<string, unknown>) => RawRequest;
    onResponse?: (status: number, body: string, context: Record<string, unknown>) => void;
  }

  interface Options extends RawRequest {
    url: string;
    connections?: number;
    duration?: number;
    amount?: number;
    /** Requests per second over all connections (open-loop load); unlimited by default. */
    overallRate?: number;
    /**
     * How often (ms) autocannon samples its counters, default 1000. A run of `amount` requests
     * ends only at the next sample after its last answer, so with the default its elapsed time
     * is rounded up to whole seconds.
     */
    sampleInt?: number;
    timeout?: number;
    requests?: Request[];
  }

  export interface Result {
    requests: Histogram;
    latency: Histogram;
    duration: number;
    errors: number;
    timeouts: number;
    non2xx: number;
    statusCodeStats: Record<string, { count: number }>;
  }

  /** The running instance, awaitable (a thenable, not a Promise: no finally). */
  function autocannon(opts: Options): PromiseLike<Result>;
  export default autocannon;
}
