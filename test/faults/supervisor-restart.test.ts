import { execFile } from 'node:child_process';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { eventually, sleep } from '../support/env.js';
import { demoClient, PlayLoad, report, trackIds, useSystem, waitForPlays } from './helpers.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface Row {
  service: string;
  worker: string;
  pid: number;
  alive: boolean;
}

/**
 * The supervisor that `./start.sh` hands the processes to (scripts/supervisor.ts) restarts a
 * worker killed with kill -9, under load: the only catalog worker (RPC) and the only history
 * worker (events) die at once while listeners play, and new ones serve within 5 s; every play
 * accepted before, during and after is stored once.
 */
describe('supervisor: a worker killed with kill -9 under load is started again', () => {
  const system = useSystem({ label: 'fsup' });

  it('serves again within 5 s, and loses nothing', async () => {
    const s = system();
    const runDir = join(s.dir, 'run');
    await mkdir(runDir, { recursive: true });
    const env = { ...process.env, ...s.env(), RUN_DIR: runDir };
    const supervisor = (...args: string[]) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        execFile(
          join(ROOT, 'scripts/run.sh'),
          ['scripts/supervisor', ...args],
          { cwd: ROOT, env },
          (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
        );
      });
    const status = async (): Promise<Row[]> =>
      (await supervisor('status')).stdout
        .trim()
        .split('\n')
        .slice(1)
        .map((line) => {
          const [service, worker, pid, alive] = line.trim().split(/\s+/);
          return { service: service!, worker: worker!, pid: Number(pid), alive: alive === 'yes' };
        });
    const row = async (service: string) =>
      (await status()).find((r) => r.service === service && r.worker === '1');

    try {
      // The supervisor takes over catalog and history from the harness's own workers.
      for (const service of ['catalog', 'history'] as const) {
        const up = await supervisor('scale', service, '1');
        expect(up.code, up.stderr).toBe(0);
        for (const p of s.alive(service)) await s.terminate(p);
      }
      expect(await s.countWorkers('history')).toMatchObject({ consumers: 1 });

      const api = await demoClient(s);
      const tracks = await trackIds(s);
      const load = new PlayLoad(api, tracks, { concurrency: 8, paceMs: 20 });
      // A catalog call that no cache answers, every 100 ms: when did the catalog answer again?
      const answers: Array<{ sent: number; at: number; status: number }> = [];
      let probing = true;
      const probe = (async () => {
        for (let i = 0; probing; i++) {
          const sent = Date.now();
          void api
            .request('GET', `/api/search?q=probe${i}`)
            .then((r) => answers.push({ sent, at: Date.now(), status: r.status }))
            .catch(() => answers.push({ sent, at: Date.now(), status: 0 }));
          await sleep(100);
        }
      })();

      let killedAt = 0;
      let catalogBackMs = 0;
      let historyBackMs = 0;
      let victims: Row[] = [];
      try {
        await load.waitAccepted(300);
        victims = [(await row('catalog'))!, (await row('history'))!];
        killedAt = Date.now();
        for (const v of victims) process.kill(v.pid, 'SIGKILL');
        await eventually(() => answers.some((a) => a.sent >= killedAt && a.status === 200), 15_000, 50);
        catalogBackMs =
          Math.min(...answers.filter((a) => a.sent >= killedAt && a.status === 200).map((a) => a.at)) -
          killedAt;
        // When the new history worker said it serves (it consumes before it says so).
        const readyLine = /^(\S+) history\.1 \(pid (\d+)\) ready/gm;
        await eventually(
          async () => {
            const log = await readFile(join(runDir, 'supervisor.log'), 'utf8');
            const ready = [...log.matchAll(readyLine)].find((m) => Number(m[2]) !== victims[1]!.pid);
            if (ready) historyBackMs = Date.parse(ready[1]!) - killedAt;
            return ready !== undefined;
          },
          15_000,
          100,
        );
        await sleep(2000);
      } finally {
        probing = false;
        await probe;
        await load.stop();
      }
      const figures = await waitForPlays(s, load.accepted);
      const after = await status();

      report('supervisor restarts workers killed with kill -9 under load', {
        killed: victims.map((v) => `${v.service}.1 (pid ${v.pid})`).join(', '),
        'catalog answers again after (ms)': catalogBackMs,
        'history serves again after (ms)': historyBackMs,
        'plays accepted': load.accepted.length,
        'answers to plays': load.statusSummary(),
        'stored in history': figures.stored,
        missing: figures.missing,
        duplicates: figures.historyDuplicates,
        'counted in stats': figures.counted,
      });

      expect(catalogBackMs).toBeLessThan(5000);
      expect(historyBackMs).toBeLessThan(5000);
      for (const v of victims) {
        const now = after.find((r) => r.service === v.service && r.worker === '1');
        expect(now?.alive, v.service).toBe(true);
        expect(now?.pid, v.service).not.toBe(v.pid);
      }
      expect(figures.missing).toBe(0);
      expect(figures.historyDuplicates).toBe(0);
      expect(figures.stored).toBe(load.accepted.length);
      expect(figures.counted).toBe(figures.stored);
    } finally {
      const stopped = await supervisor('stop');
      expect(stopped.code, stopped.stderr).toBe(0);
    }
  });
});
