import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import pino, { type Logger } from 'pino';
import { Broker } from '../../common/amqp/broker.js';
import { type BrokerAdmin, brokerUserName, deleteBrokerUsers } from '../../common/broker-users.js';
import { type Config, configSpec, loadConfig } from '../../common/config.js';
import { createPool, type Pool } from '../../common/db/pool.js';
import { createLogger } from '../../common/logger.js';

const run = promisify(execFile);

/** The broker the tests use: AMQP_URL, or the system's own default. */
export const AMQP_URL = process.env.AMQP_URL || configSpec.amqpUrl.default;
/** Tests use their own database so they never touch a running system's data. */
export const TEST_DATABASE_URL =
  process.env.TEST_DATABASE_URL ?? 'postgres://music:music@127.0.0.1:5432/music_test';

export const silentLogger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

/** A unique, lower-case prefix for one test's queues, exchanges and schemas. */
export function namespace(label = 't'): string {
  return `${label}_${randomBytes(4).toString('hex')}`;
}

/** The secret tests sign tokens with unless they choose one (so no test writes a secret file). */
export const TEST_TOKEN_SECRET = 'a-test-token-secret-of-at-least-32-bytes';

/**
 * In-process tests connect every part as the machine's guest (BROKER_USERS=false): the gateway
 * is then the guest user, whose requests carry callers. Whole systems of processes
 * (test/support/system.ts) and test/broker-users.test.ts use a broker user per kind.
 */
export function testConfig(overrides: Partial<Config> = {}): Config {
  return Object.freeze({
    ...loadConfig({ ...process.env, DATABASE_URL: TEST_DATABASE_URL, AMQP_URL }),
    tokenSecret: TEST_TOKEN_SECRET,
    brokerUsers: false,
    // Tests read the charts right after the plays they count (test/stats.test.ts shares them).
    statsChartsMaxAgeMs: 0,
    ...overrides,
  });
}

export function connectBroker(ns: string, name = 'test'): Promise<Broker> {
  return Broker.connect({ url: AMQP_URL, name: `${name}:${ns}`, logger: silentLogger, namespace: ns });
}

export function testPool(schema: string): Pool {
  return createPool({ url: TEST_DATABASE_URL, schema, max: 5 });
}

/** Deletes every queue and exchange whose name starts with the namespace, and its broker users. */
export async function cleanupBroker(ns: string): Promise<void> {
  const [queues, exchanges] = await Promise.all([
    rabbitmqctl(['list_queues', '-q', '--no-table-headers', 'name']),
    rabbitmqctl(['list_exchanges', '-q', '--no-table-headers', 'name']),
  ]);
  const mine = (out: string) =>
    out
      .split('\n')
      .map((l) => l.trim())
      .filter((n) => n.startsWith(`${ns}.`));
  const broker = await Broker.connect({ url: AMQP_URL, name: 'cleanup', logger: silentLogger });
  try {
    const ch = await broker.channel();
    for (const q of mine(queues)) await ch.deleteQueue(q);
    for (const e of mine(exchanges)) await ch.deleteExchange(e);
    await ch.close();
  } finally {
    await broker.close();
  }
  await deleteBrokerUsers(testBrokerAdmin(), brokerUserName(ns, ''));
}

/** RabbitMQ's management API (queue details and statistics). */
export const MANAGEMENT_URL = process.env.FAULTS_MANAGEMENT_URL ?? 'http://127.0.0.1:15672';
const MANAGEMENT_AUTH = process.env.FAULTS_MANAGEMENT_AUTH ?? 'guest:guest';

/** The machine broker's management API as its administrator (guest), where tests make broker users. */
export function testBrokerAdmin(url = MANAGEMENT_URL): BrokerAdmin {
  return { url, auth: MANAGEMENT_AUTH, vhost: '/' };
}

/** GET on the management API (`/api/...`), parsed; `base` is another node's API. */
export async function managementGet<T>(path: string, base = MANAGEMENT_URL, timeoutMs = 15_000): Promise<T> {
  // A cluster node that has just started (or whose peer has) may answer 500 while it gathers
  // the others' figures: asked again a few times before it counts as a failure.
  for (let attempt = 0; ; attempt++) {
    const res = await fetch(`${base}${path}`, {
      headers: { authorization: `Basic ${Buffer.from(MANAGEMENT_AUTH).toString('base64')}` },
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (res.ok) return (await res.json()) as T;
    if (res.status < 500 || attempt >= 4) throw new Error(`management API: ${res.status} for ${path}`);
    await res.arrayBuffer().catch(() => undefined);
    await sleep(500 * (attempt + 1));
  }
}

/** A queue as the management API describes it (vhost /). */
export interface QueueDetails {
  name: string;
  type: 'classic' | 'quorum' | 'stream';
  durable: boolean;
  arguments: Record<string, unknown>;
  node: string;
  leader?: string;
  members?: string[];
  online?: string[];
  messages?: number;
  messages_ready?: number;
  messages_unacknowledged?: number;
  consumers?: number;
  message_stats?: Record<string, unknown>;
}

export function queueDetails(name: string, base = MANAGEMENT_URL): Promise<QueueDetails> {
  return managementGet<QueueDetails>(`/api/queues/%2F/${encodeURIComponent(name)}`, base);
}

export async function rabbitmqctl(args: string[]): Promise<string> {
  const { stdout } = await run('rabbitmqctl', args, { timeout: 30_000 });
  return stdout;
}

/**
 * Force-closes the broker connections whose name contains `fragment`, as a broker restart would.
 * Through the management API: two rabbitmqctl runs take seconds on a busy machine, long enough
 * for the work a test wants to interrupt to finish first.
 */
export async function closeConnections(fragment: string): Promise<number> {
  type Listed = { name: string; client_properties?: { connection_name?: string } };
  const matching = async () =>
    (await managementGet<Listed[]>('/api/connections?columns=name,client_properties')).filter((c) =>
      c.client_properties?.connection_name?.includes(fragment),
    );
  // The API lists a new connection once the broker has reported its statistics (every 5 s).
  let found = await matching();
  for (const until = Date.now() + 12_000; found.length === 0 && Date.now() < until; ) {
    await sleep(250);
    found = await matching();
  }
  let closed = 0;
  for (const c of found) {
    const res = await fetch(`${MANAGEMENT_URL}/api/connections/${encodeURIComponent(c.name)}`, {
      method: 'DELETE',
      headers: {
        authorization: `Basic ${Buffer.from(MANAGEMENT_AUTH).toString('base64')}`,
        'x-reason': 'test: simulated broker failure',
      },
      signal: AbortSignal.timeout(15_000),
    });
    if (!res.ok && res.status !== 404) throw new Error(`management API: ${res.status} closing ${c.name}`);
    closed++;
  }
  return closed;
}

/** Polls `check` until it returns a truthy value or the time runs out. */
export async function eventually<T>(
  check: () => Promise<T> | T,
  timeoutMs = 10_000,
  everyMs = 50,
): Promise<NonNullable<T>> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value as NonNullable<T>;
      last = value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > until) throw new Error(`condition not met in ${timeoutMs} ms (last: ${String(last)})`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A logger of the product's own kind (redaction and all) whose lines are kept, parsed, in `lines`. */
export function capturingLogger(level = 'info'): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  const logger = createLogger('test', sink);
  logger.level = level;
  return { logger, lines };
}
