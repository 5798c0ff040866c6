/**
 * The whole system the way an operator runs it: ./start.sh (infrastructure, migrations, seed,
 * gateway, workers) on a spare port with its own run directory and database, the client
 * against it, scaling, status, and a stop that leaves nothing of ours running.
 *
 * Workers use the real queue names (rpc.catalog, ...), so the test steps aside when another
 * system already serves them on this broker rather than mix its workers into that one.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { signToken } from '../services/users/token.js';
import { cleanupBroker, eventually, namespace, rabbitmqctl, TEST_DATABASE_URL } from './support/env.js';
import { freePort } from './support/local-infra.js';

const ns = namespace('start');

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DB_NAME = `music_starttest_${randomBytes(3).toString('hex')}`;
const DATABASE_URL = (() => {
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${DB_NAME}`;
  return url.toString();
})();

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(file: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { cwd: ROOT, env, timeout: timeoutMs, maxBuffer: 10 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

/** Queues of the real system that some process consumes now. */
interface StatusRow {
  service: string;
  worker: string;
  pid: number;
  alive: boolean;
}

function parseStatus(out: string): StatusRow[] {
  return out
    .trim()
    .split('\n')
    .slice(1)
    .filter((l) => l.trim() !== '')
    .map((line) => {
      const [service, worker, pid, alive] = line.trim().split(/\s+/);
      return { service: service!, worker: worker!, pid: Number(pid), alive: alive === 'yes' };
    });
}

/** The arguments of a live process (none for a zombie or a process that is gone). */
function cmdline(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8')
      .split('\0')
      .filter((a) => a !== '');
  } catch {
    return [];
  }
}

/** Whether a pid is a live process running our compiled code (a zombie or a reused pid is not). */
function runsOurCode(pid: number): boolean {
  const args = cmdline(pid);
  return (
    args.includes(join(ROOT, 'dist/scripts/service.js')) || args.includes(join(ROOT, 'dist/gateway/main.js'))
  );
}

async function dropDatabase(): Promise<void> {
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${DB_NAME} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

let runDir: string | undefined;
let clientHome: string | undefined;
let env: NodeJS.ProcessEnv = {};
const seenPids = new Set<number>();

const startSh = (...args: string[]) => run(join(ROOT, 'start.sh'), args, env, 170_000);
// As `npm run client` runs it: compiled.
const client = (...args: string[]) => run(join(ROOT, 'scripts/run.sh'), ['client/main', ...args], env);

async function status(): Promise<StatusRow[]> {
  const r = await startSh('status');
  expect(r.code, r.stderr).toBe(0);
  const rows = parseStatus(r.stdout);
  for (const row of rows) seenPids.add(row.pid);
  return rows;
}

afterAll(async () => {
  if (!runDir) return;
  // Whatever happened above, nothing this test started may outlive it.
  await startSh('stop');
  await dropDatabase().catch(() => {});
  await cleanupBroker(ns).catch(() => {});
  await rm(runDir, { recursive: true, force: true });
  if (clientHome) await rm(clientHome, { recursive: true, force: true });
}, 90_000);

describe('./start.sh', () => {
  it('starts everything, serves the client, scales, reports status and stops only what it started', async () => {
    runDir = await mkdtemp(join(tmpdir(), 'music-run-'));
    clientHome = await mkdtemp(join(tmpdir(), 'music-client-'));
    const port = await freePort();
    // No TOKEN_SECRET: the first start makes one, beside the run's data, and keeps it.
    const secretFile = join(runDir, 'data', 'secrets', 'token-secret');
    env = {
      ...process.env,
      TOKEN_SECRET: '',
      TOKEN_SECRET_FILE: secretFile,
      // Its broker users' secret too (the users, named after the namespace, go with cleanupBroker).
      BROKER_SECRET_FILE: join(runDir, 'data', 'secrets', 'broker-secret'),
      PORT: String(port),
      RUN_DIR: runDir,
      DATABASE_URL,
      // Its own queue names, so a system already running on this broker is not disturbed.
      AMQP_NAMESPACE: ns,
      LOG_LEVEL: 'info',
      GATEWAY_URL: `http://127.0.0.1:${port}`,
      MUSIC_CLIENT_HOME: clientHome,
      MUSIC_PLAYER: 'none',
      NO_COLOR: '1',
    };

    // Start: infrastructure, the test's own database, migrations, seed, gateway and workers.
    const started = await startSh('--workers', 'stats=2');
    expect(started.code, `${started.stdout}\n${started.stderr}`).toBe(0);
    expect(started.stdout).toContain(`http://127.0.0.1:${port}`);
    expect(started.stdout).toContain('http://127.0.0.1:15672');
    expect(started.stdout).toContain('npm run client');
    // It says how long it took to green /health, and it ran compiled code: dist is fresh now.
    expect(started.stdout).toMatch(/^green \/health \d+\.\d s after \.\/start\.sh began$/m);
    expect((await run(join(ROOT, 'scripts/build.sh'), ['server', '--check'], env)).code).toBe(0);
    // The web player, built when missing or stale, is served at / (its page for any app address).
    expect(started.stdout).toContain(`web player    http://127.0.0.1:${port}/`);
    const page = await fetch(`http://127.0.0.1:${port}/albums/al1`, { headers: { accept: 'text/html' } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<div id="app"></div>');
    expect(existsSync(join(runDir, 'gateway.pid'))).toBe(true);
    expect(existsSync(join(runDir, 'gateway.log'))).toBe(true);

    const first = await status();
    const count = (rows: StatusRow[], service: string) =>
      rows.filter((r) => r.service === service && r.alive).length;
    const seen = JSON.stringify(first.map((r) => ({ ...r, cmdline: cmdline(r.pid) })));
    expect(
      first.every((r) => r.alive),
      seen,
    ).toBe(true);
    for (const service of ['catalog', 'users', 'playlists', 'history'])
      expect(count(first, service), seen).toBe(1);
    expect(count(first, 'stats')).toBe(2);
    expect(count(first, 'gateway')).toBe(1);
    for (const row of first) {
      expect(runsOurCode(row.pid)).toBe(true);
      // Plain node on the compiled files, with stack traces mapped to the .ts lines; no tsx loader.
      expect(cmdline(row.pid).slice(1, 2)).toEqual(['--enable-source-maps']);
      expect(cmdline(row.pid).join(' ')).not.toContain('tsx');
    }

    // The client against the running system.
    const login = await client('login', 'demo', 'demo1234');
    expect(login.code, login.stderr).toBe(0);
    const search = await client('search', 'blue', '--json');
    expect(search.code, search.stderr).toBe(0);
    const tracks: Array<{ id: string; durationMs: number }> = JSON.parse(search.stdout).tracks;
    expect(tracks.length).toBeGreaterThan(0);
    const track = tracks[0]!;
    const played = await client('play', track.id, '--no-audio', '--speed', '1000', '--json');
    expect(played.code, played.stderr).toBe(0);
    expect(JSON.parse(played.stdout)).toMatchObject({ trackId: track.id, msPlayed: track.durationMs });
    // The play travels as an event to the history service: it shows up eventually.
    await eventually(
      async () => {
        const history = await client('history', '--json');
        return (
          history.code === 0 &&
          JSON.parse(history.stdout).some((p: { trackId: string }) => p.trackId === track.id)
        );
      },
      20_000,
      300,
    );

    // The secret was made at the first start, for the owner's eyes only, and is no documented
    // value: a token signed with one for the demo user's (public) id gets nowhere.
    expect(statSync(secretFile).mode & 0o777).toBe(0o600);
    const secret = readFileSync(secretFile, 'utf8').trim();
    expect(Buffer.from(secret, 'base64url')).toHaveLength(32);
    const saved = JSON.parse(readFileSync(join(clientHome, 'session.json'), 'utf8')) as { token: string };
    const claims = JSON.parse(Buffer.from(saved.token.split('.')[0]!, 'base64url').toString()) as {
      sid: string;
      sub: string;
    };
    for (const guess of ['change-me-in-production', `${'change-me-in-production'}-and-more-padding`]) {
      const forged = signToken(
        { sessionId: claims.sid, userId: claims.sub, expiresAt: new Date(Date.now() + 365 * 86_400_000) },
        guess,
      );
      const me = await run(
        'curl',
        [
          '-s',
          '-o',
          '/dev/null',
          '-w',
          '%{http_code}',
          '-H',
          `authorization: Bearer ${forged}`,
          `http://127.0.0.1:${port}/api/me`,
        ],
        env,
      );
      expect(me.stdout, guess).toBe('401');
    }

    // A second start keeps what runs and starts no duplicates.
    const again = await startSh();
    expect(again.code, `${again.stdout}\n${again.stderr}`).toBe(0);
    expect(again.stdout).toContain('already running');
    const second = await status();
    expect(second.map((r) => r.pid).sort()).toEqual(first.map((r) => r.pid).sort());

    // Scale catalog up, use it, then back down.
    const up = await startSh('scale', 'catalog', '2');
    expect(up.code, `${up.stdout}\n${up.stderr}`).toBe(0);
    const scaled = await status();
    expect(count(scaled, 'catalog')).toBe(2);
    for (let i = 0; i < 3; i++) expect((await client('tracks', '--json')).code).toBe(0);
    // A users worker started later signs and checks with the same secret as the first: logins
    // and their tokens work whichever worker takes them.
    expect((await startSh('scale', 'users', '2')).code).toBe(0);
    for (let i = 0; i < 4; i++) {
      expect((await client('login', 'demo', 'demo1234')).code).toBe(0);
      expect((await client('history', '--json')).code).toBe(0);
    }
    // A worker that dies is started again by the supervisor, under the same name.
    const victim = scaled.find((r) => r.service === 'catalog' && r.worker === '1')!;
    process.kill(victim.pid, 'SIGKILL');
    await eventually(
      async () => {
        const row = (await status()).find((r) => r.service === 'catalog' && r.worker === '1');
        return row?.alive === true && row.pid !== victim.pid && runsOurCode(row.pid);
      },
      20_000,
      200,
    );
    expect(readFileSync(join(runDir, 'supervisor.log'), 'utf8')).toContain(
      `catalog.1 (pid ${victim.pid}) exited (signal SIGKILL)`,
    );
    const down = await startSh('scale', 'stats', '1');
    expect(down.code, down.stderr).toBe(0);
    const after = await status();
    expect(count(after, 'stats')).toBe(1);
    const gone = first.find((r) => r.service === 'stats' && r.worker === '2')!;
    expect(runsOurCode(gone.pid)).toBe(false);
    // The stopped worker shut down gracefully: its log says so.
    expect(readFileSync(join(runDir, 'stats.2.log'), 'utf8')).toContain('worker stopped');

    // Bad requests are refused clearly.
    const bad = await startSh('scale', 'nosuch', '2');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain("unknown service 'nosuch'");

    // Without its supervisor (killed), what it ran keeps serving; status and stop still find it
    // by its pid files, and stop ends it.
    const supervisorPid = Number(
      /supervisor (\d+) listening/.exec(readFileSync(join(runDir, 'supervisor.log'), 'utf8'))?.[1],
    );
    process.kill(supervisorPid, 'SIGKILL');
    await eventually(() => cmdline(supervisorPid).length === 0, 5_000, 50);
    const orphaned = await status();
    expect(orphaned.map((r) => r.pid).sort()).toEqual(after.map((r) => r.pid).sort());
    expect((await startSh('scale', 'catalog', '1')).stderr).toContain('the system is not running');

    // Stop: everything we started exits, the pid files go, the port closes.
    const stopped = await startSh('stop');
    // The secret outlives a stop (it is beside the data, not among the run's pid files).
    expect(readFileSync(secretFile, 'utf8').trim()).toBe(secret);
    expect(stopped.code, stopped.stderr).toBe(0);
    for (const pid of seenPids) expect(runsOurCode(pid), `pid ${pid} still runs`).toBe(false);
    expect(parseStatus((await startSh('status')).stdout)).toEqual([]);
    const health = await run(
      'curl',
      ['-s', '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${port}/health`],
      env,
    );
    expect(health.stdout).toBe('000');
    // And only what it started: RabbitMQ and PostgreSQL still answer.
    expect((await rabbitmqctl(['-q', 'status'])).length).toBeGreaterThan(0);
    const db = new pg.Client({ connectionString: DATABASE_URL });
    await db.connect();
    await db.end();
  }, 180_000);
});
