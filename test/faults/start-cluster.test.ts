/**
 * `./start.sh --broker-nodes 3` as a newcomer runs it: a cluster of the system's own, the
 * system on all three nodes, status listing the nodes, a play stored, every queue with three
 * members, and `./start.sh stop` stopping the nodes too. Its own RUN_DIR, PORT, database and
 * node addresses and ports (start.sh passes BROKER_* on to scripts/broker-cluster.sh), so it
 * meets nothing else on the machine.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { clusterSettings } from '../support/cluster.js';
import { eventually, managementGet, type QueueDetails } from '../support/env.js';
import { databaseUrl, dropDatabase, freePort } from '../support/local-infra.js';
import { runScript } from '../support/scripts.js';
import { ApiClient } from '../support/system.js';
import { report } from './helpers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const noRabbit = existsSync('/usr/lib/rabbitmq/bin/rabbitmq-server')
  ? null
  : 'RabbitMQ is not installed in /usr/lib/rabbitmq/bin';
if (noRabbit) console.log(`[faults] ./start.sh --broker-nodes 3: skipped (${noRabbit})`);

function startSh(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(
      join(ROOT, 'start.sh'),
      args,
      { cwd: ROOT, env, timeout: 400_000, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, out: `${stdout}${stderr}` });
      },
    );
  });
}

describe.skipIf(noRabbit !== null)('./start.sh --broker-nodes 3', () => {
  const ns = `fst_${randomBytes(4).toString('hex')}`;
  const database = `music_${ns}`;
  let runDir: string | undefined;
  let env: NodeJS.ProcessEnv = {};

  afterAll(async () => {
    if (!runDir) return;
    await startSh(['stop'], env);
    // The nodes' data too: nothing of the test stays on the machine.
    await runScript('broker-cluster.sh', ['destroy'], { BROKER_DIR: join(runDir, 'broker') }).catch(() => {});
    await dropDatabase(database).catch(() => {});
    await rm(runDir, { recursive: true, force: true });
  }, 180_000);

  it('starts a cluster of its own, runs the system on all three nodes, and stops them', async () => {
    runDir = await mkdtemp(join(tmpdir(), 'music-run-cluster-'));
    const port = await freePort();
    const settings = await clusterSettings(3, 'fst');
    const { AMQP_URL: _shared, ...rest } = process.env;
    env = {
      ...rest,
      ...settings,
      PORT: String(port),
      RUN_DIR: runDir,
      DATABASE_URL: databaseUrl(database),
      AMQP_NAMESPACE: ns,
      TOKEN_SECRET: '',
      TOKEN_SECRET_FILE: join(runDir, 'token-secret'),
      BROKER_SECRET_FILE: join(runDir, 'broker-secret'),
      LOG_LEVEL: 'info',
    };
    const started = performance.now();
    const up = await startSh(['--broker-nodes', '3'], env);
    const startMs = Math.round(performance.now() - started);
    expect(up.code, up.out).toBe(0);
    const ui = [1, 2, 3].map(
      (i) => `http://${settings.BROKER_NET}.${i}:${Number(settings.BROKER_MANAGEMENT_PORT) + i}`,
    );
    for (const url of ui) expect(up.out).toContain(url);

    // status: the processes, then each node with its pid, state and the queues it leads.
    const status = await startSh(['status'], env);
    expect(status.code, status.out).toBe(0);
    const nodes = status.out
      .split('\n')
      .filter((l) => l.startsWith(`${settings.BROKER_NAME}-`) && /\s(running|stopped|not-serving)\s/.test(l));
    expect(nodes).toHaveLength(3);
    for (const line of nodes) expect(line).toMatch(/\s\d+\s+running\s+\d+ queues$/);
    const leads = nodes.reduce((n, l) => n + Number(/(\d+) queues$/.exec(l)![1]), 0);

    // The system works on the cluster: a play goes through to history.
    const api = new ApiClient(`http://127.0.0.1:${port}`);
    await api.login();
    const played = await api.play('tr1');
    expect(played.status).toBe(202);
    await eventually(
      async () => {
        const r = await api.request<{ plays?: Array<{ trackId: string }> }>('GET', '/api/me/history?limit=5');
        return r.status === 200 && JSON.stringify(r.body).includes('tr1');
      },
      30_000,
      300,
    );

    // Every queue of the system holds a replica on each node. The management API lists a queue's
    // members from its statistics, which a new stream emits only after its first interval (5 s).
    let queues: QueueDetails[] = [];
    await eventually(
      async () => {
        queues = (
          await managementGet<QueueDetails[]>('/api/queues/%2F?columns=name,type,durable,members', ui[0]!)
        ).filter((q) => q.name.startsWith(`${ns}.`));
        return queues.length > 0 && queues.every((q) => q.members !== undefined || q.type === 'classic');
      },
      20_000,
      500,
    );
    // Every process logs in as its kind's own broker user, made on the cluster by start.sh.
    const users = await managementGet<Array<{ name: string }>>('/api/users', ui[0]!);
    expect(users.map((u) => u.name)).toContain(`${ns}-gateway`);
    const connections = await managementGet<Array<{ user: string }>>('/api/connections?columns=user', ui[0]!);
    for (const c of connections) expect(c.user.startsWith(`${ns}-`) || c.user === 'guest', c.user).toBe(true);
    const quorum = queues.filter((q) => q.type === 'quorum');
    expect(quorum.length).toBeGreaterThanOrEqual(5);
    // Request queues are transient classic queues, on one node each; everything else has 3 members.
    const requests = queues.filter((q) => q.name.startsWith(`${ns}.rpc.`));
    expect(requests.length).toBeGreaterThanOrEqual(5);
    for (const q of requests) expect([q.type, q.durable], q.name).toEqual(['classic', false]);
    for (const q of queues) if (!requests.includes(q)) expect(q.members?.length, q.name).toBe(3);

    const stop = await startSh(['stop'], env);
    expect(stop.code, stop.out).toBe(0);
    const after = await startSh(['status'], env);
    const stopped = after.out
      .split('\n')
      .filter((l) => l.startsWith(`${settings.BROKER_NAME}-`) && /\sstopped\s/.test(l));
    expect(stopped).toHaveLength(3);
    report('./start.sh --broker-nodes 3', {
      'start (nodes, migrations, seed, workers, gateway)': `${startMs} ms`,
      'queues of the system': `${queues.length} (${quorum.length} quorum and ${queues.length - quorum.length - requests.length} stream with 3 members each, ${requests.length} transient classic request queues)`,
      'queues led per node': `${nodes.map((l) => /(\d+) queues$/.exec(l)![1]).join(', ')} (${leads} in all)`,
      'after ./start.sh stop': 'every node stopped',
    });
  }, 600_000);
});
