/**
 * A whole copy of the system for one benchmark, brought up the way an operator does it:
 * `./start.sh` with its own RUN_DIR, PORT, DATABASE_URL and AMQP_NAMESPACE, so it shares the
 * broker and the database server with everything else on the machine but none of their
 * queues or tables. The run database (`music_b_<random>`) is created, migrated and seeded
 * here with the catalog's and users' own seeding functions, and dropped at the end; the
 * namespace's queues and exchanges are deleted. Cleanup also runs on Ctrl-C and on failure.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brokerUrlFor, config, createPool, type Pool } from '../common/index.js';
import type { ServiceName } from '../scripts/services.js';
import { DEMO_PASSWORD, DEMO_USERNAME } from '../services/users/seed.js';
import { cleanupBroker, rabbitmqctl } from '../test/support/env.js';
import {
  createDatabase,
  databaseUrl,
  dropDatabase,
  freePort,
  seedDatabase,
} from '../test/support/local-infra.js';
import { AMQP_URL, note } from './lib.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
/** Where run databases are created and dropped (the music role has CREATEDB). */

export interface BenchSystemOptions {
  /** Part of the namespace and database name (lower-case letters). */
  label: string;
  /** Extra environment of every process (PREFETCH, HANDLER_DELAY_MS, ...). */
  env?: Record<string, string>;
}

function startSh(args: string[], env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      join(ROOT, 'start.sh'),
      args,
      { cwd: ROOT, env: { ...process.env, ...env }, timeout: 300_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err)
          reject(
            new Error(`./start.sh ${args.join(' ')} failed (${err.code ?? err.signal}):\n${stdout}${stderr}`),
          );
        else resolve(stdout);
      },
    );
  });
}

/** Pids of what a run directory says runs, by component (`gateway`, `catalog.1`, ...). */
function readPids(runDir: string): Map<string, number> {
  const pids = new Map<string, number>();
  let files: string[] = [];
  try {
    files = readdirSync(runDir).filter((f) => f.endsWith('.pid'));
  } catch {
    return pids;
  }
  for (const f of files) {
    const pid = Number(readFileSync(join(runDir, f), 'utf8').trim());
    if (Number.isInteger(pid) && pid > 0) pids.set(f.slice(0, -4), pid);
  }
  return new Map([...pids].sort(([a], [b]) => a.localeCompare(b)));
}

/**
 * SIGKILL to every process that still runs in the system's namespace, found by its
 * environment rather than by pid files (a pid file can be gone while its process runs, or
 * outlive it and name a reused pid).
 */
function killOurs(ns: string): number {
  let killed = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const environ = readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0');
      if (environ.includes(`AMQP_NAMESPACE=${ns}`)) {
        process.kill(Number(entry), 'SIGKILL');
        killed++;
      }
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return killed;
}

const live = new Set<BenchSystem>();
// Last resort when the bench process dies: no process of ours outlives it, the supervisor
// included (it runs in a session of its own, so a Ctrl-C on the terminal does not reach it).
process.once('exit', () => {
  for (const system of live) killOurs(system.ns);
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    note(`${signal}: stopping the benchmark's systems`);
    Promise.allSettled([...live].map((s) => s.stop())).finally(() => process.exit(130));
  });
}

export class BenchSystem {
  private directPool: Pool | null = null;
  private stopped = false;
  /** Seconds from `./start.sh` to green /health, as start.sh printed them. */
  startToHealthS: number | null = null;

  private constructor(
    readonly ns: string,
    readonly database: string,
    /** Temp folder of the run: start.sh's RUN_DIR and, unless BENCH_MEDIA_DIR, the media. */
    readonly dir: string,
    readonly runDir: string,
    readonly mediaDir: string,
    readonly port: number,
    private readonly environment: Record<string, string>,
  ) {}

  static async start(opts: BenchSystemOptions): Promise<BenchSystem> {
    assertDependenciesInstalled();
    const ns = `b_${opts.label}_${randomBytes(3).toString('hex')}`;
    const database = `music_${ns}`;
    const dir = await mkdtemp(join(tmpdir(), `music-${ns}-`));
    const mediaDir = process.env.BENCH_MEDIA_DIR ?? join(dir, 'media');
    const port = await freePort();
    const env: Record<string, string> = {
      RUN_DIR: join(dir, 'run'),
      PORT: String(port),
      DATABASE_URL: databaseUrl(database),
      AMQP_URL,
      AMQP_NAMESPACE: ns,
      MEDIA_DIR: mediaDir,
      TOKEN_SECRET: randomBytes(24).toString('hex'),
      // start.sh makes the namespace's broker users from it; cleanupBroker deletes them.
      BROKER_SECRET_FILE: join(dir, 'broker-secret'),
      LOG_LEVEL: process.env.BENCH_SYSTEM_LOG_LEVEL ?? 'info',
      // The load posts thousands of plays a second as a few accounts: far past any listener.
      PLAYS_PER_HOUR: '10000000',
      // BENCH_PROFILE=1: every process of the system writes a CPU profile into .prof/ on exit.
      ...(process.env.BENCH_PROFILE
        ? {
            NODE_OPTIONS: `--import=${join(ROOT, 'bench/cpu-profile.mjs')}`,
            BENCH_PROFILE_DIR: join(ROOT, '.prof'),
          }
        : {}),
      ...opts.env,
    };
    await createDatabase(database);
    const system = new BenchSystem(ns, database, dir, env.RUN_DIR!, mediaDir, port, env);
    live.add(system);
    try {
      note(`${ns}: seeding ${database}`);
      await system.seed();
      note(`${ns}: ./start.sh on port ${port}`);
      const out = await startSh([], env);
      const green = /^green \/health (\d+(?:\.\d+)?) s after/m.exec(out);
      system.startToHealthS = green ? Number(green[1]) : null;
      note(`${ns}: ${green?.[0] ?? 'start.sh printed no time to green /health'}`);
    } catch (err) {
      await system.stop();
      throw err;
    }
    return system;
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get databaseUrl(): string {
    return databaseUrl(this.database);
  }

  /**
   * The AMQP URL a kind of the system's processes connects with (its broker user): a bench
   * that calls services for a user does so as the gateway, whose requests alone may name one.
   */
  brokerUrl(kind: string): Promise<string> {
    const settings = {
      ...config(),
      amqpUrl: AMQP_URL,
      brokerSecretFile: this.environment.BROKER_SECRET_FILE!,
    };
    return brokerUrlFor(settings, kind, this.ns);
  }

  /** The run database; SQL names schemas explicitly (`history.plays`). */
  get db(): Pool {
    this.directPool ??= createPool({ url: this.databaseUrl, schema: 'public', max: 2 });
    return this.directPool;
  }

  /** Pids of the running processes, by component (`gateway`, `catalog.1`, ...). */
  pids(): Map<string, number> {
    return readPids(this.runDir);
  }

  /** `./start.sh scale <service> <n>`, then waits until the broker counts n consumers on its queue. */
  async scale(service: ServiceName, n: number): Promise<void> {
    await startSh(['scale', service, String(n)], this.environment);
    const deadline = Date.now() + 60_000;
    for (;;) {
      const consumers = await this.consumers(`rpc.${service}`);
      if (consumers === n) return;
      if (Date.now() > deadline) throw new Error(`rpc.${service} has ${consumers} consumers, not ${n}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** Consumers of one of the namespace's queues, as the broker counts them. */
  async consumers(queue: string): Promise<number> {
    const out = await rabbitmqctl(['list_queues', '-q', '--no-table-headers', 'name', 'consumers']);
    for (const line of out.split('\n')) {
      const [name, consumers] = line.trim().split(/\s+/);
      if (name === `${this.ns}.${queue}`) return Number(consumers);
    }
    return 0;
  }

  /** Logs in over HTTP and returns the bearer token. */
  async login(username = DEMO_USERNAME, password = DEMO_PASSWORD): Promise<string> {
    const res = await fetch(`${this.baseUrl}/api/sessions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username, password }),
    });
    if (res.status !== 201) throw new Error(`login as ${username}: ${res.status} ${await res.text()}`);
    return ((await res.json()) as { token: string }).token;
  }

  /** The last lines of every process's log, for a failure report. */
  async logTails(lines = 20): Promise<string> {
    const parts: string[] = [];
    for (const comp of this.pids().keys()) {
      const text = await readFile(join(this.runDir, `${comp}.log`), 'utf8').catch(() => '');
      parts.push(`--- ${comp}.log\n${text.trimEnd().split('\n').slice(-lines).join('\n')}`);
    }
    return parts.join('\n');
  }

  /** ./start.sh stop, then drops the database, the namespace's queues and the temp files. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const problems: string[] = [];
    const attempt = async (what: string, fn: () => Promise<unknown>) => {
      try {
        await fn();
      } catch (err) {
        problems.push(`${what}: ${(err as Error).message}`);
      }
    };
    await attempt('start.sh stop', () => startSh(['stop'], this.environment));
    const leftovers = killOurs(this.ns);
    if (leftovers > 0) problems.push(`${leftovers} process(es) still ran after ./start.sh stop; killed`);
    await attempt('pool', async () => this.directPool?.end());
    await attempt('drop database', () => dropDatabase(this.database));
    await attempt('broker cleanup', () => cleanupBroker(this.ns));
    if (process.env.BENCH_KEEP_LOGS) note(`logs kept in ${this.runDir}`);
    else await attempt('temp files', () => rm(this.dir, { recursive: true, force: true }));
    live.delete(this);
    if (problems.length > 0) note(`${this.ns}: cleanup problems: ${problems.join('; ')}`);
  }

  private seed(): Promise<void> {
    return seedDatabase(this.databaseUrl, this.mediaDir, this.environment.TOKEN_SECRET!);
  }
}

/**
 * start.sh runs `npm ci` when node_modules is older than the lock file; a benchmark must never
 * reinstall dependencies under other processes' feet, so it refuses instead.
 */
function assertDependenciesInstalled(): void {
  const installed = statSync(join(ROOT, 'node_modules/.package-lock.json'), { throwIfNoEntry: false });
  const lock = statSync(join(ROOT, 'package-lock.json'));
  if (!installed || installed.mtimeMs < lock.mtimeMs) {
    throw new Error('node_modules is older than package-lock.json: run npm ci first');
  }
}

/** Resident memory of a process in MB (VmRSS), or null when it is gone. */
export function rssMb(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}
