import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { eventually } from '../support/env.js';
import type { System } from '../support/system.js';
import {
  logEnd,
  playEvents,
  projectionOffsets,
  publishAll,
  readShare,
  report,
  since,
  storedPlays,
  trackIds,
  useSystem,
} from './helpers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const EVENTS = 20_000;

/** What the projections hold, next to what history stored (every play of the log, once). */
async function counts(s: System) {
  const { rows } = await s.db.query<{ history: number; stats: number; report: number }>(
    `SELECT (SELECT count(*) FROM history.plays)::int AS history,
            (SELECT coalesce(sum(plays), 0) FROM stats.track_plays)::int AS stats,
            (SELECT coalesce(sum(plays), 0) FROM stats.report_tracks)::int AS report`,
  );
  return rows[0]!;
}

/** Waits until both projections have read every partition of the log to its end. */
async function caughtUp(s: System, end: Map<number, number>, timeoutMs = 120_000): Promise<void> {
  await eventually(
    async () =>
      readShare(await projectionOffsets(s, 'stats'), end) === 1 &&
      readShare(await projectionOffsets(s, 'report'), end) === 1,
    timeoutMs,
    200,
  );
}

describe('projections killed mid-work (kill -9 while applying the event log)', () => {
  const system = useSystem({ label: 'fproj' });

  it('a stats worker killed while it catches up: the next one goes on from the stored offsets, nothing counted twice', async () => {
    const s = system();
    const [first] = s.alive('stats');
    await s.terminate(first!);
    // The log grows while nobody applies it; history stores every play meanwhile.
    await publishAll(s, playEvents(await trackIds(s), EVENTS));
    const end = await logEnd(s);
    await eventually(async () => (await storedPlays(s)) >= EVENTS, 60_000, 200);
    s.dbProxy.latencyMs = 20;
    const catching = await s.startWorker('stats');
    const started = Date.now();
    let at = -1;
    let killed: Awaited<ReturnType<System['kill']>>;
    let reportAtKill: number;
    // The database stays slow until the kill has landed: on fast cores the rest of the log
    // would otherwise be applied between the sighting and the signal.
    try {
      await eventually(
        async () => {
          at = readShare(await projectionOffsets(s, 'report'), end);
          return at > 0.15;
        },
        60_000,
        50,
      );
      killed = await s.kill(catching);
      reportAtKill = readShare(await projectionOffsets(s, 'report'), end);
    } finally {
      s.dbProxy.latencyMs = 0;
    }
    await s.startWorker('stats');
    await caughtUp(s, end);
    const after = await counts(s);
    report('stats worker killed while catching up with the log', {
      'events in the log': EVENTS,
      'report read at the kill': `${Math.round(reportAtKill * 100)} % of the log`,
      'killed after (ms)': since(started),
      'stored in history': after.history,
      'counted by stats': after.stats,
      'counted by the report': after.report,
    });
    expect(killed.signal).toBe('SIGKILL');
    expect(reportAtKill).toBeLessThan(1);
    expect(after).toEqual({ history: EVENTS, stats: EVENTS, report: EVENTS });
  });

  it('a replay killed mid-way: the next one resumes where it stopped, and the swapped-in tables are right', async () => {
    const s = system();
    const end = await logEnd(s);
    await caughtUp(s, end);
    const children: ChildProcess[] = [];
    const replay = () => {
      // As `npm run replay -- report` runs it: compiled.
      const child = spawn(join(ROOT, 'scripts/run.sh'), ['scripts/replay', 'report'], {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...s.env(), LOG_LEVEL: 'warn' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.push(child);
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
      });
      child.stderr.on('data', (d: Buffer) => {
        out += d.toString();
      });
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
        child.once('exit', (code, signal) => resolve({ code, signal })),
      );
      return { child, exited, output: () => out };
    };
    try {
      // Slow enough that the first replay is caught half-way.
      s.dbProxy.latencyMs = 5;
      const first = replay();
      let progress = 0;
      try {
        await eventually(
          async () => {
            const { rows } = await s.db
              .query<{ log_partition: number; last_offset: string }>(
                `SELECT log_partition, last_offset FROM stats_rb_report.projection_offsets WHERE projection = 'report'`,
              )
              .catch(() => ({ rows: [] as Array<{ log_partition: number; last_offset: string }> }));
            progress = readShare(new Map(rows.map((r) => [r.log_partition, Number(r.last_offset)])), end);
            return progress > 0.2;
          },
          90_000,
          50,
        );
      } finally {
        s.dbProxy.latencyMs = 0;
      }
      first.child.kill('SIGKILL');
      expect((await first.exited).signal).toBe('SIGKILL');
      const second = replay();
      const done = await second.exited;
      const after = await counts(s);
      report('replay killed mid-way, then run again', {
        'events in the log': [...end.values()].reduce((n, last) => n + last + 1, 0),
        'rebuilt at the kill': `${Math.round(progress * 100)} % of the log`,
        'second run': second
          .output()
          .trim()
          .split('\n')
          .filter((l) => !l.startsWith('replay:'))
          .join(' | '),
        'counted by the report after the swap': after.report,
        'stored in history': after.history,
      });
      expect(done.code, second.output()).toBe(0);
      expect(second.output()).toContain('resumed an interrupted replay');
      expect(after.report).toBe(after.history);
      const { rowCount } = await s.db.query("SELECT 1 FROM pg_namespace WHERE nspname = 'stats_rb_report'");
      expect(rowCount).toBe(0);
    } finally {
      // Whatever failed above, no replay outlives the test.
      for (const child of children)
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });
});
