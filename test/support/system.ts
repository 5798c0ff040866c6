import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import amqp from 'amqplib';
import { Broker } from '../../common/amqp/broker.js';
import { SYSTEM } from '../../common/contracts/index.js';
import { createPool, type Pool } from '../../common/db/pool.js';
import { EVENTS_EXCHANGE, eventQueue } from '../../common/events/envelope.js';
import { EventPublisher } from '../../common/events/publisher.js';
import { SERVICE_NAMES, type ServiceName } from '../../scripts/services.js';
import { DEMO_PASSWORD, DEMO_USERNAME } from '../../services/users/seed.js';
import { makeBrokerUsers } from './broker-users.js';
import type { BrokerCluster } from './cluster.js';
import {
  AMQP_URL,
  cleanupBroker,
  connectBroker,
  eventually,
  queueDetails,
  rabbitmqctl,
  silentLogger,
  sleep,
  testBrokerAdmin,
} from './env.js';
import {
  createDatabase,
  databaseUrl,
  dropDatabase,
  freePort,
  PG_ADMIN_URL,
  seedDatabase,
} from './local-infra.js';
import { TcpProxy } from './proxy.js';

export { createDatabase, dropDatabase, freePort, seedDatabase };

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Where run databases are created and dropped (the music role has CREATEDB). */

export { DEMO_PASSWORD, DEMO_USERNAME, SERVICE_NAMES, type ServiceName };

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** One OS process of the system: a service worker or the gateway. */
export interface Proc {
  /** `history`, `gateway`, ... */
  readonly name: ServiceName | 'gateway';
  /** `history.2`: also the log file's name. */
  readonly label: string;
  readonly pid: number;
  readonly logFile: string;
  readonly child: ChildProcess;
  /** Set once the process has exited. */
  exit: Exit | null;
  readonly exited: Promise<Exit>;
}

export interface QueueFigures {
  messages: number;
  ready: number;
  unacked: number;
  consumers: number;
}

export interface SystemOptions {
  /** Prefix of the namespace and database name (lower-case letters and digits). */
  label?: string;
  /** Workers per service (default 1 each). */
  workers?: Partial<Record<ServiceName, number>>;
  /** Extra environment for every process (e.g. RPC_TIMEOUT_MS, EVENT_MAX_ATTEMPTS). */
  env?: Record<string, string>;
  /** Extra environment for the gateway only (e.g. a tighter RPC_TIMEOUT_MS). */
  gatewayEnv?: Record<string, string>;
  /** pino level of every process (default warn). */
  logLevel?: string;
  /**
   * A RabbitMQ cluster of the test's own: every process gets all its nodes in AMQP_URL and
   * connects to them directly (no proxy). Default: the machine's broker, through a proxy.
   */
  cluster?: BrokerCluster;
  /**
   * Services whose database lives on another PostgreSQL server, by that server's admin URL
   * (e.g. scripts/pg-second.sh's): the run's database is created there too, and the service
   * gets it as `<SERVICE>_DATABASE_URL`, directly. The others use the main server via the proxy
   * (catalog and users among them: the run seeds them there).
   */
  databases?: Partial<Record<Exclude<ServiceName, 'catalog' | 'users'>, string>>;
}

/** The operations token of every test system's gateway: it opens /metrics and /health's checks. */
export const SYSTEM_OPS_TOKEN = 'ops-token-of-the-test-systems';

const running = new Set<Proc>();
// A test process that dies must not leave workers behind on the shared broker.
process.once('exit', () => {
  for (const p of running) if (!p.exit) p.child.kill('SIGKILL');
});

function hostPort(url: string, defaultPort: number): { host: string; port: number } {
  const u = new URL(url);
  return { host: u.hostname || '127.0.0.1', port: Number(u.port || defaultPort) };
}

/**
 * A whole copy of the system as real OS processes, started the way start.sh starts it
 * (`scripts/run.sh scripts/service <name>`, `scripts/run.sh gateway/main`: the compiled code in
 * dist/, built first when stale), isolated
 * from everything else on the machine: its own broker namespace, its own database (created
 * for the run, dropped at the end), its own port, and both the broker and the database reached
 * through TCP proxies that the test can cut to take them "down" for this system only.
 */
export class System {
  readonly procs: Proc[] = [];
  private readonly counters = new Map<string, number>();
  private directPool: Pool | null = null;
  private readonly ownPools = new Map<string, Pool>();
  private testBroker: Promise<Broker> | null = null;
  private testPublisher: Promise<EventPublisher> | null = null;
  private stopped = false;

  private constructor(
    readonly ns: string,
    readonly database: string,
    readonly dir: string,
    readonly mediaDir: string,
    readonly port: number,
    readonly tokenSecret: string,
    readonly amqpProxy: TcpProxy,
    readonly dbProxy: TcpProxy,
    private readonly opts: SystemOptions,
  ) {}

  /** Creates the database, seeds it, starts every worker and the gateway, and waits for /health. */
  static async start(opts: SystemOptions = {}): Promise<System> {
    const ns = `${opts.label ?? 'f'}_${randomBytes(4).toString('hex')}`;
    const database = `music_${ns}`;
    const admins = [undefined, ...new Set(Object.values(opts.databases ?? {}))];
    for (const [i, admin] of admins.entries()) {
      // A server that refuses leaves none of the databases made before it behind.
      await createDatabase(database, admin).catch(async (err) => {
        for (const made of admins.slice(0, i)) await dropDatabase(database, made).catch(() => {});
        throw err;
      });
    }
    const dir = await mkdtemp(join(tmpdir(), `music-${ns}-`));
    // The generated seed audio (~50 MB, a few seconds of CPU) can be shared by a run's systems.
    const mediaDir = process.env.FAULTS_MEDIA_DIR ?? join(dir, 'media');
    const [amqpProxy, dbProxy, port] = await Promise.all([
      TcpProxy.open(hostPort(AMQP_URL, 5672)),
      TcpProxy.open(hostPort(PG_ADMIN_URL, 5432)),
      freePort(),
    ]);
    const system = new System(
      ns,
      database,
      dir,
      mediaDir,
      port,
      randomBytes(24).toString('hex'),
      amqpProxy,
      dbProxy,
      opts,
    );
    try {
      // A broker user per kind of process, as ./start.sh makes them (deleted with the namespace,
      // or with the test's cluster).
      await makeBrokerUsers(
        ns,
        system.brokerSecretFile,
        opts.cluster ? testBrokerAdmin(opts.cluster.nodes[0]!.managementUrl) : testBrokerAdmin(),
      );
      await seedDatabase(system.databaseUrl, mediaDir, system.tokenSecret);
      await Promise.all(
        SERVICE_NAMES.flatMap((s) =>
          Array.from({ length: opts.workers?.[s] ?? 1 }, () => system.startWorker(s, { wait: false })),
        ),
      );
      for (const s of SERVICE_NAMES) await system.waitForWorkers(s);
      system.spawn('gateway');
      await system.waitHealthy();
    } catch (err) {
      process.stderr.write(await system.logTails());
      await system.stop();
      throw err;
    }
    return system;
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The broker secret the processes' broker passwords come from (in the run's folder). */
  get brokerSecretFile(): string {
    return join(this.dir, 'broker-secret');
  }

  /** The run database, directly (never through the proxy): tests read tables with it. */
  get databaseUrl(): string {
    return databaseUrl(this.database);
  }

  /** The database URL of a service's own server (direct), when it has one. */
  private ownDatabase(service: ServiceName): string | undefined {
    const admin = this.opts.databases?.[service as keyof NonNullable<SystemOptions['databases']>];
    return admin ? databaseUrl(this.database, undefined, admin) : undefined;
  }

  /** Environment of every process: broker and database through the proxies (or a cluster's nodes). */
  env(): Record<string, string> {
    const amqp = new URL(AMQP_URL);
    amqp.hostname = '127.0.0.1';
    amqp.port = String(this.amqpProxy.port);
    const own: Record<string, string> = {};
    for (const s of SERVICE_NAMES) {
      const url = this.ownDatabase(s);
      if (url) own[`${s.toUpperCase()}_DATABASE_URL`] = url;
    }
    return {
      AMQP_URL: this.opts.cluster?.amqpUrl ?? amqp.toString(),
      AMQP_NAMESPACE: this.ns,
      DATABASE_URL: databaseUrl(this.database, this.dbProxy.port),
      ...own,
      PORT: String(this.port),
      LOG_LEVEL: this.opts.logLevel ?? process.env.FAULTS_LOG_LEVEL ?? 'warn',
      MEDIA_DIR: this.mediaDir,
      TOKEN_SECRET: this.tokenSecret,
      BROKER_SECRET_FILE: this.brokerSecretFile,
      OPS_TOKEN: SYSTEM_OPS_TOKEN,
      // Fault scenarios post tens of thousands of plays as one account: far past any listener.
      PLAYS_PER_HOUR: '10000000',
      DB_POOL_SIZE: '5',
      ...this.opts.env,
    };
  }

  /** A pool on the run database (direct); SQL names schemas explicitly (`history.plays`). */
  get db(): Pool {
    this.directPool ??= createPool({ url: this.databaseUrl, schema: 'public', max: 3 });
    return this.directPool;
  }

  /** A pool on the database a service keeps its schema in (direct): `db` unless it has its own. */
  dbFor(service: ServiceName): Pool {
    const url = this.ownDatabase(service);
    if (!url) return this.db;
    let pool = this.ownPools.get(url);
    if (!pool) {
      pool = createPool({ url, schema: 'public', max: 3 });
      this.ownPools.set(url, pool);
    }
    return pool;
  }

  /** A broker connection in the system's namespace, direct (not through the proxy). */
  broker(): Promise<Broker> {
    const cluster = this.opts.cluster;
    this.testBroker ??= cluster
      ? Broker.connect({
          url: cluster.amqpUrl,
          name: `faults:${this.ns}`,
          logger: silentLogger,
          namespace: this.ns,
        })
      : connectBroker(this.ns, 'faults');
    return this.testBroker;
  }

  /** A confirmed publisher onto the system's `music.events` exchange, direct. */
  publisher(): Promise<EventPublisher> {
    this.testPublisher ??= this.broker().then(async (broker) => {
      const publisher = new EventPublisher({ broker, logger: silentLogger, queues: SYSTEM.eventQueues });
      await publisher.start();
      return publisher;
    });
    return this.testPublisher;
  }

  /**
   * Publishes raw bodies (anything, valid or not) onto the system's events exchange with a
   * routing key, confirmed, directly (not through the proxy).
   */
  async publishRaw(routingKey: string, bodies: readonly Buffer[]): Promise<void> {
    const conn = await amqp.connect(this.opts.cluster?.nodes[0]?.amqpUrl ?? AMQP_URL);
    try {
      const ch = await conn.createConfirmChannel();
      for (const body of bodies) {
        ch.publish(`${this.ns}.${EVENTS_EXCHANGE}`, routingKey, body, { persistent: true });
      }
      await ch.waitForConfirms();
    } finally {
      await conn.close();
    }
  }

  /** Starts one more worker; by default waits until the broker sees it consuming every queue. */
  async startWorker(service: ServiceName, { wait = true } = {}): Promise<Proc> {
    const proc = this.spawn(service);
    if (wait) await this.waitForWorkers(service);
    return proc;
  }

  /** Live processes of a service (or the gateway). */
  alive(name: ServiceName | 'gateway'): Proc[] {
    return this.procs.filter((p) => p.name === name && !p.exit);
  }

  get gateway(): Proc {
    const gw = this.alive('gateway')[0];
    if (!gw) throw new Error('the gateway is not running');
    return gw;
  }

  /** Waits until every queue the service consumes has exactly one consumer per live worker. */
  async waitForWorkers(service: ServiceName, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const starting = this.alive(service);
    for (;;) {
      const dead = starting.find((p) => p.exit);
      if (dead) {
        throw new Error(
          `${dead.label} exited (${JSON.stringify(dead.exit)}) while starting\n${await this.logTails()}`,
        );
      }
      const counts = await this.consumerCounts(service);
      if (counts.every((n) => n === starting.length)) return;
      if (Date.now() > deadline) {
        throw new Error(`${service} workers not ready (consumers ${counts})\n${await this.logTails()}`);
      }
      await sleep(250);
    }
  }

  /** Consumers of each queue of the service, as the broker counts them. */
  async consumerCounts(service: ServiceName): Promise<number[]> {
    const queues = await this.queues();
    const names = [`rpc.${service}`, ...SYSTEM.eventQueues.filter((q) => q.group === service).map(eventName)];
    return names.map((n) => queues.get(n)?.consumers ?? 0);
  }

  /** Processes alive and consumers the broker counts on the service's request queue. */
  async countWorkers(service: ServiceName): Promise<{ processes: number; consumers: number }> {
    const queues = await this.queues();
    return { processes: this.alive(service).length, consumers: queues.get(`rpc.${service}`)?.consumers ?? 0 };
  }

  /** The namespace's queues (names without the namespace prefix), counted by the broker now. */
  async queues(): Promise<Map<string, QueueFigures>> {
    const prefix = `${this.ns}.`;
    if (this.opts.cluster) {
      const result = new Map<string, QueueFigures>();
      for (const q of await this.opts.cluster.queues()) {
        if (!q.name.startsWith(prefix)) continue;
        result.set(q.name.slice(prefix.length), {
          messages: q.messages ?? 0,
          ready: q.messages_ready ?? 0,
          unacked: q.messages_unacknowledged ?? 0,
          consumers: q.consumers ?? 0,
        });
      }
      return result;
    }
    const out = await rabbitmqctl([
      'list_queues',
      '-q',
      '--no-table-headers',
      'name',
      'messages',
      'messages_ready',
      'messages_unacknowledged',
      'consumers',
    ]);
    const result = new Map<string, QueueFigures>();
    for (const line of out.split('\n')) {
      const [name, messages, ready, unacked, consumers] = line.trim().split(/\s+/);
      if (!name?.startsWith(prefix)) continue;
      result.set(name.slice(prefix.length), {
        messages: Number(messages),
        ready: Number(ready),
        unacked: Number(unacked),
        consumers: Number(consumers),
      });
    }
    return result;
  }

  /**
   * Cumulative message counts of one of the namespace's queues from the management API
   * (sampled by the broker every few seconds, so poll for the figure you expect).
   */
  async queueStats(name: string): Promise<Record<string, number>> {
    const full = `${this.ns}.${name}`;
    const body = await (this.opts.cluster ? this.opts.cluster.queue(full) : queueDetails(full));
    const stats: Record<string, number> = {};
    for (const [k, v] of Object.entries(body.message_stats ?? {})) if (typeof v === 'number') stats[k] = v;
    return stats;
  }

  /** Unacknowledged deliveries each worker process holds right now, by pid (the machine's broker). */
  async unackedByPid(): Promise<Map<number, number>> {
    if (this.opts.cluster) throw new Error('unackedByPid reads the machine broker with rabbitmqctl');
    const [connections, channels] = await Promise.all([
      rabbitmqctl(['list_connections', '-q', '--no-table-headers', 'pid', 'client_properties']),
      rabbitmqctl(['list_channels', '-q', '--no-table-headers', 'connection', 'messages_unacknowledged']),
    ]);
    const pidOf = new Map<string, number>();
    for (const line of connections.split('\n')) {
      const m = /^(<[^>]+>)\s.*\{"connection_name","[a-z]+#(\d+)"\}/.exec(line.trim());
      if (m) pidOf.set(m[1]!, Number(m[2]));
    }
    const ours = new Set(this.procs.map((p) => p.pid));
    const result = new Map<number, number>();
    for (const line of channels.split('\n')) {
      const [conn, unacked] = line.trim().split(/\s+/);
      const pid = conn ? pidOf.get(conn) : undefined;
      if (pid !== undefined && ours.has(pid)) result.set(pid, (result.get(pid) ?? 0) + Number(unacked));
    }
    return result;
  }

  /** Sends a signal to a process of the system. */
  signal(proc: Proc, signal: NodeJS.Signals): void {
    if (!proc.exit) process.kill(proc.pid, signal);
  }

  /** `kill -9`: no chance to finish or ack anything. */
  async kill(proc: Proc): Promise<Exit> {
    this.signal(proc, 'SIGKILL');
    return proc.exited;
  }

  /** SIGTERM and wait for the exit (graceful stop), SIGKILL after `timeoutMs`. */
  async terminate(proc: Proc, timeoutMs = 30_000): Promise<Exit & { ms: number }> {
    const started = performance.now();
    this.signal(proc, 'SIGTERM');
    const timer = setTimeout(() => this.signal(proc, 'SIGKILL'), timeoutMs);
    const exit = await proc.exited.finally(() => clearTimeout(timer));
    return { ...exit, ms: Math.round(performance.now() - started) };
  }

  /** Waits until GET /health answers 200 (broker, database and every service answering). */
  async waitHealthy(timeoutMs = 60_000): Promise<void> {
    let last = '';
    await eventually(
      async () => {
        const gw = this.alive('gateway')[0];
        if (!gw) throw new Error('the gateway exited');
        const res = await fetch(`${this.baseUrl}/health`, { signal: AbortSignal.timeout(3000) });
        last = await res.text();
        return res.status === 200;
      },
      timeoutMs,
      200,
    ).catch(async (err: Error) => {
      throw new Error(`system not healthy: ${err.message} ${last}\n${await this.logTails()}`);
    });
  }

  /** Every log file of the run, by label. */
  async logs(): Promise<Map<string, string>> {
    const files = (await readdir(this.dir).catch(() => [])).filter((f) => f.endsWith('.log'));
    const out = new Map<string, string>();
    for (const f of files) out.set(f.slice(0, -4), await readFile(join(this.dir, f), 'utf8'));
    return out;
  }

  /** The last lines of every log, for a failure report. */
  async logTails(lines = 25): Promise<string> {
    const parts: string[] = [];
    for (const [label, text] of await this.logs()) {
      const tail = text.trimEnd().split('\n').slice(-lines).join('\n');
      if (tail) parts.push(`--- ${label}.log (last ${lines} lines)\n${tail}`);
    }
    return parts.length > 0 ? `${parts.join('\n')}\n` : '(all logs empty)\n';
  }

  /** Stops everything (SIGTERM, then SIGKILL), drops the database and the namespace's queues. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.amqpProxy.restore();
    await this.dbProxy.restore();
    for (const p of this.procs) if (!p.exit) p.child.kill('SIGCONT');
    await Promise.all(this.procs.filter((p) => !p.exit).map((p) => this.terminate(p, 25_000)));
    if (this.testPublisher) await (await this.testPublisher).stop().catch(() => {});
    if (this.testBroker) await (await this.testBroker).close().catch(() => {});
    await this.directPool?.end().catch(() => {});
    for (const pool of this.ownPools.values()) await pool.end().catch(() => {});
    await Promise.all([this.amqpProxy.close(), this.dbProxy.close()]);
    await dropDatabase(this.database);
    for (const admin of new Set(Object.values(this.opts.databases ?? {}))) {
      await dropDatabase(this.database, admin).catch((err: Error) =>
        process.stderr.write(`${err.message}\n`),
      );
    }
    // A cluster of the test's own goes as a whole (the test destroys it).
    if (!this.opts.cluster) await cleanupBroker(this.ns);
    if (process.env.FAULTS_KEEP_LOGS) process.stderr.write(`logs kept in ${this.dir}\n`);
    else await rm(this.dir, { recursive: true, force: true });
  }

  private spawn(name: ServiceName | 'gateway'): Proc {
    const n = (this.counters.get(name) ?? 0) + 1;
    this.counters.set(name, n);
    const label = `${name}.${n}`;
    const logFile = join(this.dir, `${label}.log`);
    const fd = openSync(logFile, 'a');
    // Exactly as start.sh starts them: compiled, through scripts/run.sh (which execs node, so
    // the child's pid is the worker's own).
    const entry = name === 'gateway' ? ['gateway/main'] : ['scripts/service', name];
    const child = spawn(join(ROOT, 'scripts/run.sh'), entry, {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        SERVICE_NAME: name,
        ...this.env(),
        ...(name === 'gateway' ? this.opts.gatewayEnv : {}),
      },
      stdio: ['ignore', fd, fd],
    });
    closeSync(fd);
    if (child.pid === undefined) throw new Error(`could not start ${label}`);
    const proc: Proc = {
      name,
      label,
      pid: child.pid,
      logFile,
      child,
      exit: null,
      exited: new Promise<Exit>((resolve) => {
        child.once('exit', (code, signal) => {
          proc.exit = { code, signal };
          running.delete(proc);
          resolve(proc.exit);
        });
      }),
    };
    running.add(proc);
    this.procs.push(proc);
    return proc;
  }
}

function eventName(q: { group: string; event: string }): string {
  return eventQueue(q.group, q.event);
}

export interface Reply<T = unknown> {
  status: number;
  headers: Headers;
  /** Parsed JSON, or undefined when the body is not JSON. */
  body: T;
  text: string;
  ms: number;
}

export interface RequestOptions {
  /** Sent as JSON. */
  json?: unknown;
  /** Sent as is (with `contentType`, default application/json). */
  raw?: string | Uint8Array;
  contentType?: string;
  /** Bearer token; defaults to the client's own (null: send none). */
  token?: string | null;
  headers?: Record<string, string>;
  timeoutMs?: number;
}

/** A small HTTP client of the gateway that remembers the token of the user it logged in as. */
export class ApiClient {
  token: string | null = null;
  userId: string | null = null;

  constructor(readonly baseUrl: string) {}

  async request<T = unknown>(method: string, path: string, opts: RequestOptions = {}): Promise<Reply<T>> {
    const headers: Record<string, string> = { ...opts.headers };
    const token = opts.token === undefined ? this.token : opts.token;
    if (token) headers.authorization = `Bearer ${token}`;
    let body: string | Uint8Array | undefined;
    if (opts.json !== undefined) body = JSON.stringify(opts.json);
    else body = opts.raw;
    if (body !== undefined) headers['content-type'] ??= opts.contentType ?? 'application/json';
    const started = performance.now();
    const res = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers,
      body,
      signal: AbortSignal.timeout(opts.timeoutMs ?? 30_000),
    });
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    return {
      status: res.status,
      headers: res.headers,
      body: parsed as T,
      text,
      ms: performance.now() - started,
    };
  }

  /** Logs in (the demo user by default) and keeps the token. */
  async login(username = DEMO_USERNAME, password = DEMO_PASSWORD): Promise<string> {
    const reply = await this.request<{ token: string; user: { id: string } }>('POST', '/api/sessions', {
      json: { username, password },
      token: null,
    });
    if (reply.status !== 201) throw new Error(`login as ${username} failed: ${reply.status} ${reply.text}`);
    this.token = reply.body.token;
    this.userId = reply.body.user.id;
    return this.token;
  }

  /** Registers a user and logs in as them. */
  async register(username: string, password: string): Promise<string> {
    const reply = await this.request('POST', '/api/users', { json: { username, password }, token: null });
    if (reply.status !== 201) throw new Error(`register ${username} failed: ${reply.status} ${reply.text}`);
    return this.login(username, password);
  }

  /**
   * Posts one play; `id` is the event id when the gateway accepted it (202). A retry with the
   * same `playId` is the same play.
   */
  async play(
    trackId: string,
    playId?: string,
  ): Promise<{ status: number; id?: string; retryAfter: string | null }> {
    const reply = await this.request<{ id?: string }>('POST', '/api/plays', {
      json: { trackId, playId },
      timeoutMs: 15_000,
    });
    return {
      status: reply.status,
      id: reply.status === 202 ? reply.body?.id : undefined,
      retryAfter: reply.headers.get('retry-after'),
    };
  }
}
