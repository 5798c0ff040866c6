import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { EventPublisher, PartitionStanding, RpcClient } from '../common/index.js';

const SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * The gateway's Prometheus metrics, in a registry of its own (not the global one) so several
 * apps in one process, as in tests, do not collide.
 */
export class GatewayMetrics {
  readonly registry = new Registry();
  private readonly httpRequests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests answered, by method, route pattern and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });
  private readonly httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request latency, by method, route pattern and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: SECONDS,
    registers: [this.registry],
  });
  private readonly rpcDuration = new Histogram({
    name: 'rpc_call_duration_seconds',
    help: 'RPC call latency from the gateway, by method and outcome',
    labelNames: ['method', 'outcome'] as const,
    buckets: SECONDS,
    registers: [this.registry],
  });
  private readonly eventsPublished = new Counter({
    name: 'events_published_total',
    help: 'Events the broker confirmed, by type',
    labelNames: ['type'] as const,
    registers: [this.registry],
  });

  private lagSource: (() => Promise<PartitionStanding[]>) | null = null;
  private readonly projectionLag = new Gauge({
    name: 'projection_lag_events',
    help: 'Events of an event log partition a projection has not applied yet, by service, projection and partition',
    labelNames: ['service', 'projection', 'partition'] as const,
    registers: [this.registry],
    // Asked afresh at each scrape; a service that does not answer leaves its series out.
    collect: () => this.collectLag(),
  });
  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  /** Where the stats projections' standing per partition comes from (asked at each scrape). */
  watchLag(source: () => Promise<PartitionStanding[]>): void {
    this.lagSource = source;
  }

  private async collectLag(): Promise<void> {
    this.projectionLag.reset();
    const standings = await this.lagSource?.().catch(() => null);
    for (const s of standings ?? []) {
      this.projectionLag.set({ service: 'stats', projection: s.projection, partition: s.partition }, s.lag);
    }
  }

  /** Hooks the RPC client and the event publisher up to these metrics. */
  watch(rpc: RpcClient, publisher: EventPublisher): void {
    rpc.observe((service, method, ms, outcome) =>
      this.rpcDuration.observe({ method: `${service}.${method}`, outcome }, ms / 1000),
    );
    publisher.observe((type) => this.eventsPublished.inc({ type }));
  }

  request(method: string, route: string, status: number, ms: number): void {
    const labels = { method, route, status: String(status) };
    this.httpRequests.inc(labels);
    this.httpDuration.observe(labels, ms / 1000);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
