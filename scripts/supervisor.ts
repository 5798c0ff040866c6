/**
 * Supervises the processes of the system on one machine: the gateway and N workers of each
 * service of SYSTEM. `./start.sh` prepares the machine (dependencies, build, migrations, seed)
 * and hands over to it; `./start.sh scale|status|stop` talk to it.
 *
 *   supervisor up [--workers catalog=3,stats=2]   start the supervisor if it does not run, then
 *                                                 the gateway and the workers (an explicit count
 *                                                 is exact; otherwise what runs, at least one);
 *                                                 returns once each new process said it is ready
 *   supervisor scale <service> <n>                run exactly n workers of a service (starting
 *                                                 the supervisor if it does not run)
 *   supervisor status                             component, pid, alive, uptime
 *   supervisor counts                             workers per service, on one line (exit 1
 *                                                 when the supervisor does not run)
 *   supervisor stop                               the gateway first, then every worker; then
 *                                                 the supervisor itself
 *   supervisor daemon                             the supervisor (started by `up`)
 *
 * A process is ready when it says so (common/service.ts sends `{ready: true}` on the IPC
 * channel once it serves), not when a log line appears. A process that exits without being
 * asked to is started again after a back-off (0.1 s, doubling to 30 s; back to 0.1 s once it
 * has run a minute). The supervisor runs detached in its own session and listens on
 * $RUN_DIR/supervisor.sock; each process writes its own log, $RUN_DIR/<component>.log, and its
 * pid is in $RUN_DIR/<component>.pid.
 *
 * If the supervisor itself dies, what it ran keeps serving: `status` and `stop` find those
 * processes by their pid files (checked against /proc), and the next `up` stops them before it
 * starts its own.
 *
 * Environment: RUN_DIR (default .run), HEALTH_TIMEOUT (s a process may take to be ready, 120),
 * STOP_TIMEOUT (s before SIGKILL, 30); every process gets the supervisor's environment.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { createConnection, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SERVICE_NAMES } from '../common/contracts/index.js';

/** The repository: this file runs compiled, from dist/scripts/ (or from scripts/ under tsx). */
const ROOT = fileURLToPath(
  new URL(import.meta.url.includes('/dist/') ? '../..' : '..', import.meta.url),
).replace(/\/$/, '');
const RUN_DIR = process.env.RUN_DIR ?? join(ROOT, '.run');
const SOCKET = join(RUN_DIR, 'supervisor.sock');
const seconds = (name: string, fallback: number) => {
  const n = Number(process.env[name]);
  return (Number.isFinite(n) && n > 0 ? n : fallback) * 1000;
};
const READY_TIMEOUT_MS = seconds('HEALTH_TIMEOUT', 120);
/** Workers force their own exit 20 s after SIGTERM; SIGKILL comes only after this. */
const STOP_TIMEOUT_MS = seconds('STOP_TIMEOUT', 30);
const FIRST_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 30_000;
/** A process that ran this long before exiting is restarted at the first back-off again. */
const STEADY_MS = 60_000;
const MAX_WORKERS = 64;

/** One line to the client: shown (`say`), the end (`done`), or the end with an error. */
type Reply = { say: string } | { done: true; data?: unknown } | { error: string };
type Request =
  | { cmd: 'up'; workers: Record<string, number> }
  | { cmd: 'scale'; service: string; n: number }
  | { cmd: 'status' }
  | { cmd: 'counts' }
  | { cmd: 'stop' };

interface StatusRow {
  service: string;
  worker: string;
  pid: number;
  alive: boolean;
  uptimeMs: number;
}

// --- the supervisor --------------------------------------------------------------------------

/** A supervised process: `gateway` or `<service>.<n>`. */
class Component {
  proc: ChildProcess | null = null;
  pid = 0;
  startedAt = 0;
  ready = false;
  /** False once it is being stopped: its exit is then the end, not a crash. */
  wanted = true;
  private backoffMs = FIRST_BACKOFF_MS;
  private restartTimer: NodeJS.Timeout | null = null;
  private readyWaiters: Array<(err?: Error) => void> = [];
  private exitWaiters: Array<() => void> = [];

  constructor(
    readonly name: string,
    readonly service: string,
    readonly worker: number | null,
  ) {}

  private get program(): string[] {
    return this.worker === null ? ['gateway/main'] : ['scripts/service', this.service];
  }

  launch(): void {
    const log = openSync(join(RUN_DIR, `${this.name}.log`), 'a');
    writeSync(log, `\n--- ${new Date().toISOString()} starting ${this.name}\n`);
    // scripts/run.sh execs node: the pid is the process that handles SIGTERM and sends `ready`.
    const proc = spawn(join(ROOT, 'scripts/run.sh'), this.program, {
      cwd: ROOT,
      env: { ...process.env, SERVICE_NAME: this.service },
      stdio: ['ignore', log, log, 'ipc'],
    });
    closeSync(log);
    this.proc = proc;
    this.pid = proc.pid ?? 0;
    this.startedAt = Date.now();
    this.ready = false;
    try {
      writeFileSync(join(RUN_DIR, `${this.name}.pid`), `${this.pid}\n`);
    } catch (err) {
      log_(`${this.name}: could not write its pid file: ${(err as Error).message}`);
    }
    proc.on('message', (msg: unknown) => {
      if ((msg as { ready?: unknown } | null)?.ready !== true || this.proc !== proc) return;
      this.ready = true;
      log_(`${this.name} (pid ${this.pid}) ready after ${Date.now() - this.startedAt} ms`);
      for (const resolve of this.readyWaiters.splice(0)) resolve();
    });
    proc.on('error', (err) => {
      log_(`${this.name}: ${err.message}`);
      // A process that could not be spawned emits no exit: take it as one, to be retried.
      if (proc.pid === undefined) this.onExit(proc, null, null);
    });
    proc.on('exit', (code, signal) => this.onExit(proc, code, signal));
  }

  private onExit(proc: ChildProcess | null, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.proc !== proc) return;
    this.proc = null;
    this.ready = false;
    const how = signal ? `signal ${signal}` : `code ${code}`;
    for (const reject of this.readyWaiters.splice(0)) {
      reject(
        new Error(`${this.name} exited (${how}) while starting; see ${join(RUN_DIR, `${this.name}.log`)}`),
      );
    }
    if (!this.wanted) {
      rmSync(join(RUN_DIR, `${this.name}.pid`), { force: true });
      for (const resolve of this.exitWaiters.splice(0)) resolve();
      return;
    }
    if (Date.now() - this.startedAt >= STEADY_MS) this.backoffMs = FIRST_BACKOFF_MS;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, MAX_BACKOFF_MS);
    log_(`${this.name} (pid ${this.pid}) exited (${how}); starting it again in ${delay} ms`);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (!this.wanted) return;
      try {
        this.launch();
      } catch (err) {
        // Its log could not be opened (nothing was spawned): try again after the next back-off.
        log_(`${this.name}: could not start: ${(err as Error).message}`);
        this.startedAt = Date.now();
        this.onExit(this.proc, 1, null);
      }
    }, delay);
  }

  /** Resolves once the process said it serves; rejects if it exits first or takes too long. */
  whenReady(): Promise<void> {
    if (this.ready) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${this.name} did not report ready in ${READY_TIMEOUT_MS / 1000}s`)),
        READY_TIMEOUT_MS,
      );
      this.readyWaiters.push((err) => {
        clearTimeout(timer);
        if (err) reject(err);
        else resolve();
      });
    });
  }

  /** SIGTERM, then SIGKILL after STOP_TIMEOUT; resolves once the process is gone. */
  async stop(): Promise<void> {
    this.wanted = false;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = null;
    const proc = this.proc;
    if (!proc) {
      rmSync(join(RUN_DIR, `${this.name}.pid`), { force: true });
      return;
    }
    const gone = new Promise<void>((resolve) => this.exitWaiters.push(resolve));
    proc.kill('SIGTERM');
    const timer = setTimeout(() => {
      log_(`${this.name} (pid ${this.pid}) did not stop in ${STOP_TIMEOUT_MS / 1000}s; killing it`);
      proc.kill('SIGKILL');
    }, STOP_TIMEOUT_MS);
    await gone;
    clearTimeout(timer);
  }

  row(): StatusRow {
    const alive = this.proc !== null;
    return {
      service: this.service,
      worker: this.worker === null ? '-' : String(this.worker),
      pid: this.pid,
      alive,
      uptimeMs: alive ? Date.now() - this.startedAt : 0,
    };
  }
}

function log_(line: string): void {
  process.stdout.write(`${new Date().toISOString()} ${line}\n`);
}

function isService(name: string): boolean {
  return (SERVICE_NAMES as readonly string[]).includes(name);
}

async function daemon(): Promise<void> {
  const components = new Map<string, Component>();
  const workersOf = (service: string) =>
    [...components.values()].filter((c) => c.service === service && c.worker !== null && c.wanted);

  function startComponent(name: string, service: string, worker: number | null): Component {
    const c = new Component(name, service, worker);
    components.set(name, c);
    c.launch();
    return c;
  }

  async function stopComponents(list: Component[], say: (line: string) => void): Promise<void> {
    await Promise.all(
      list.map(async (c) => {
        await c.stop();
        components.delete(c.name);
        say(`stopped ${c.name}`);
      }),
    );
  }

  /** Brings a service to exactly n workers: new ones take the lowest free numbers, the highest go first. */
  async function scaleTo(service: string, n: number, say: (line: string) => void): Promise<Component[]> {
    const have = workersOf(service).sort((a, b) => a.worker! - b.worker!);
    const started: Component[] = [];
    const taken = new Set(have.map((c) => c.worker));
    for (let i = 1; have.length + started.length < n; i++) {
      if (taken.has(i)) continue;
      const c = startComponent(`${service}.${i}`, service, i);
      say(`started ${c.name} (pid ${c.pid})`);
      started.push(c);
    }
    if (have.length > n) await stopComponents(have.slice(n), say);
    return started;
  }

  const counts = () => SERVICE_NAMES.map((s) => `${s}×${workersOf(s).length}`).join(' ');

  async function handle(req: Request, say: (line: string) => void): Promise<unknown> {
    switch (req.cmd) {
      case 'up': {
        const started: Component[] = [];
        for (const service of SERVICE_NAMES) {
          const want = req.workers[service] ?? Math.max(1, workersOf(service).length);
          started.push(...(await scaleTo(service, want, say)));
        }
        const gateway = components.get('gateway');
        if (gateway) say(`gateway already running (pid ${gateway.pid})`);
        else {
          const c = startComponent('gateway', 'gateway', null);
          say(`started gateway (pid ${c.pid})`);
          started.push(c);
        }
        await Promise.all(started.map((c) => c.whenReady()));
        return undefined;
      }
      case 'scale': {
        const started = await scaleTo(req.service, req.n, say);
        await Promise.all(started.map((c) => c.whenReady()));
        say(`${req.service}: ${workersOf(req.service).length} worker(s)`);
        return undefined;
      }
      case 'status':
        return [...components.values()].map((c) => c.row());
      case 'counts':
        return counts();
      case 'stop': {
        const gateway = components.get('gateway');
        // The gateway first, so no new requests arrive while the workers finish theirs.
        if (gateway) await stopComponents([gateway], say);
        await stopComponents([...components.values()], say);
        return undefined;
      }
    }
  }

  rmSync(SOCKET, { force: true });
  let stopping = false;
  const server = createServer((socket) => {
    let buffer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      const end = buffer.indexOf('\n');
      if (end < 0) return;
      const send = (reply: Reply) => socket.writable && socket.write(`${JSON.stringify(reply)}\n`);
      let req: Request;
      try {
        req = JSON.parse(buffer.slice(0, end)) as Request;
      } catch {
        send({ error: 'unreadable request' });
        socket.end();
        return;
      }
      handle(req, (line) => send({ say: line })).then(
        (data) => {
          send({ done: true, data });
          socket.end();
          if (req.cmd === 'stop') shutdown();
        },
        (err: unknown) => {
          send({ error: (err as Error).message });
          socket.end();
        },
      );
    });
    socket.on('error', () => {});
  });
  const shutdown = () => {
    if (stopping) return;
    stopping = true;
    server.close();
    rmSync(SOCKET, { force: true });
    log_('supervisor stopped');
    process.exit(0);
  };
  const onSignal = (signal: string) => {
    log_(`${signal}: stopping everything`);
    handle({ cmd: 'stop' }, log_).finally(shutdown);
  };
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  process.once('SIGINT', () => onSignal('SIGINT'));
  process.on('SIGHUP', () => {});
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(SOCKET, resolve);
  });
  log_(`supervisor ${process.pid} listening on ${SOCKET}`);
}

// --- the command line --------------------------------------------------------------------------

function connect(): Promise<Socket | null> {
  return new Promise((resolve) => {
    if (!existsSync(SOCKET)) {
      resolve(null);
      return;
    }
    const socket = createConnection(SOCKET);
    socket.once('connect', () => resolve(socket));
    socket.once('error', () => resolve(null));
  });
}

/** Sends one request; prints what the supervisor says; resolves with its data, or exits 1 on an error. */
async function ask(socket: Socket, req: Request): Promise<unknown> {
  socket.setEncoding('utf8');
  socket.write(`${JSON.stringify(req)}\n`);
  let buffer = '';
  for await (const chunk of socket as AsyncIterable<string>) {
    buffer += chunk;
    let end = buffer.indexOf('\n');
    while (end >= 0) {
      const reply = JSON.parse(buffer.slice(0, end)) as Reply;
      buffer = buffer.slice(end + 1);
      if ('say' in reply) console.log(reply.say);
      else if ('error' in reply) fail(reply.error);
      else return reply.data;
      end = buffer.indexOf('\n');
    }
  }
  return fail('the supervisor went away without an answer');
}

function fail(message: string): never {
  console.error(`supervisor: ${message}`);
  process.exit(1);
}

/**
 * Starts the supervisor in a session of its own, and waits until it listens. Processes a
 * supervisor that died left running are stopped first: the new one starts its own.
 */
async function startDaemon(): Promise<Socket> {
  for (const name of await stopOrphans()) console.log(`stopped ${name}, left by a supervisor that is gone`);
  const log = openSync(join(RUN_DIR, 'supervisor.log'), 'a');
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), 'daemon'], {
    cwd: ROOT,
    detached: true,
    stdio: ['ignore', log, log],
    env: process.env,
  });
  closeSync(log);
  child.unref();
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const socket = await connect();
    if (socket) return socket;
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return fail(`the supervisor did not start; see ${join(RUN_DIR, 'supervisor.log')}`);
}

function parseWorkers(spec: string | undefined): Record<string, number> {
  const workers: Record<string, number> = {};
  for (const item of (spec ?? '').split(',').filter((s) => s !== '')) {
    const [name = '', count = ''] = item.split('=');
    if (!isService(name)) fail(`--workers: unknown service '${name}' (services: ${SERVICE_NAMES.join(' ')})`);
    const n = Number(count);
    if (!/^\d+$/.test(count) || n < 1 || n > MAX_WORKERS)
      fail(`--workers: '${item}' should be <service>=<1..64>`);
    workers[name] = n;
  }
  return workers;
}

/** Pids in $RUN_DIR whose process runs our compiled code (left by a supervisor that died). */
function orphans(): Array<{ name: string; pid: number }> {
  const found: Array<{ name: string; pid: number }> = [];
  for (const file of existsSync(RUN_DIR) ? readdirSync(RUN_DIR) : []) {
    if (!file.endsWith('.pid')) continue;
    const pid = Number(readFileSync(join(RUN_DIR, file), 'utf8').trim());
    let args = '';
    try {
      args = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {}
    if (pid > 0 && args.includes(`${ROOT}/dist/`)) found.push({ name: file.slice(0, -4), pid });
    else rmSync(join(RUN_DIR, file), { force: true });
  }
  return found;
}

/** SIGTERM to every orphan, SIGKILL to those left after STOP_TIMEOUT; their names. */
async function stopOrphans(): Promise<string[]> {
  const left = orphans();
  for (const { pid } of left) process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + STOP_TIMEOUT_MS;
  while (orphans().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  for (const { name, pid } of orphans()) {
    console.error(`supervisor: ${name} (pid ${pid}) did not stop in ${STOP_TIMEOUT_MS / 1000}s; killing it`);
    process.kill(pid, 'SIGKILL');
  }
  for (const { name } of left) rmSync(join(RUN_DIR, `${name}.pid`), { force: true });
  return left.map((o) => o.name);
}

const pad = (s: string, n: number) => s.padEnd(n);
const uptime = (ms: number) => {
  const s = Math.floor(ms / 1000);
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m${String(s % 60).padStart(2, '0')}s`;
};

async function main(): Promise<void> {
  const [cmd, ...args] = process.argv.slice(2);
  switch (cmd) {
    case 'daemon':
      await daemon();
      return;
    case 'up': {
      const i = args.indexOf('--workers');
      const workers = parseWorkers(i >= 0 ? args[i + 1] : undefined);
      await ask((await connect()) ?? (await startDaemon()), { cmd: 'up', workers });
      return;
    }
    case 'scale': {
      const [service = '', count = ''] = args;
      if (!isService(service)) fail(`unknown service '${service}' (services: ${SERVICE_NAMES.join(' ')})`);
      if (!/^\d+$/.test(count) || Number(count) > MAX_WORKERS)
        fail(`the number of workers should be 0..${MAX_WORKERS}, not '${count}'`);
      await ask((await connect()) ?? (await startDaemon()), { cmd: 'scale', service, n: Number(count) });
      return;
    }
    case 'status': {
      const socket = await connect();
      const rows: StatusRow[] = socket
        ? ((await ask(socket, { cmd: 'status' })) as StatusRow[])
        : orphans().map(({ name, pid }) => ({
            service: name.split('.')[0]!,
            worker: name.split('.')[1] ?? '-',
            pid,
            alive: true,
            uptimeMs: Number.NaN,
          }));
      console.log(`${pad('SERVICE', 10)} ${pad('WORKER', 6)} ${pad('PID', 8)} ${pad('ALIVE', 6)} UPTIME`);
      rows.sort((a, b) => a.service.localeCompare(b.service) || Number(a.worker) - Number(b.worker));
      for (const r of rows) {
        const up = r.alive && Number.isFinite(r.uptimeMs) ? uptime(r.uptimeMs) : '-';
        console.log(
          `${pad(r.service, 10)} ${pad(r.worker, 6)} ${pad(String(r.pid), 8)} ${pad(r.alive ? 'yes' : 'no', 6)} ${up}`,
        );
      }
      return;
    }
    case 'counts': {
      const socket = await connect();
      if (!socket) fail('the supervisor is not running');
      console.log(await ask(socket, { cmd: 'counts' }));
      return;
    }
    case 'stop': {
      const socket = await connect();
      if (socket) {
        await ask(socket, { cmd: 'stop' });
        return;
      }
      // No supervisor (it was killed): stop what its pid files name, if it runs our code.
      const stopped = await stopOrphans();
      if (stopped.length === 0) console.log('nothing of ours is running');
      for (const name of stopped) console.log(`stopped ${name}`);
      return;
    }
    default:
      fail('usage: supervisor up [--workers s=n,...] | scale <service> <n> | status | counts | stop');
  }
}

await main();
