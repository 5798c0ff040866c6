import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { config } from '../common/index.js';
import { BrokerCluster } from '../test/support/cluster.js';

export const AMQP_URL = config().amqpUrl;
export const quiet = pino({ level: process.env.BENCH_LOG_LEVEL ?? 'warn' });

export function benchNamespace(name: string): string {
  return `bench_${name}_${randomBytes(3).toString('hex')}`;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export const round = (n: number, digits = 2) => Number(n.toFixed(digits));

/**
 * The middle value; of an even number of values, the mean of the middle two (two rounds give
 * their mean, not the larger one, so every field of a summary describes the same runs).
 */
export function median(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Runs `count` async jobs with at most `concurrency` in flight; resolves with the elapsed ms. */
export async function pool(
  count: number,
  concurrency: number,
  job: (i: number) => Promise<unknown>,
): Promise<number> {
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) await job(next++);
    }),
  );
  return performance.now() - started;
}

/** Prints a progress line to stderr (stdout's last line is the JSON result). */
export function note(message: string): void {
  process.stderr.write(`${message}\n`);
}

/**
 * BENCH_BROKER_NODES=3: a RabbitMQ cluster of the benchmark's own (scripts/broker-cluster.sh,
 * own addresses, ports and folder), to run the system on it beside the one-node runs; null
 * for 1 (the default). The caller destroys it.
 */
export async function benchCluster(): Promise<BrokerCluster | null> {
  const nodes = Number(process.env.BENCH_BROKER_NODES ?? 1);
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > 9)
    throw new Error('BENCH_BROKER_NODES should be 1..9');
  if (nodes === 1) return null;
  note(`starting a ${nodes}-node RabbitMQ cluster`);
  return BrokerCluster.start({ nodes, label: 'bench' });
}
