import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { logBounds } from '../../common/events/log.js';
import { eventually } from '../support/env.js';
import type { System } from '../support/system.js';
import {
  playEvents,
  projectionOffset,
  publishAll,
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

/** Waits until both projections have read the log to its end. */
async function caughtUp(s: System, end: number, timeoutMs = 120_000): Promise<void> {
  await eventually(
    async () => (await projectionOffset(s, 'stats')) >= end && (await projectionOffset(s, 'report')) >= end,
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
    const end = (await logBounds(await s.broker()))!.last;
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
          at = await projectionOffset(s, 'report');
          return at > end * 0.15;
        },
        60_000,
        50,
      );
      killed = await s.kill(catching);
      reportAtKill = await projectionOffset(s, 'report');
    } finally {
      s.dbProxy.latencyMs = 0;
    }
    await s.startWorker('stats');
    await caughtUp(s, end);
    const after = await counts(s);
    report('stats worker killed while catching up with the log', {
      'events in the log': EVENTS,
      'report offset at the kill': `${reportAtKill} of ${end}`,
      'killed after (ms)': since(started),
      'stored in history': after.history,
      'counted by stats': after.stats,
      'counted by the report': after.report,
    });
    expect(killed.signal).toBe('SIGKILL');
    expect(reportAtKill).toBeLessThan(end);
    expect(after).toEqual({ history: EVENTS, stats: EVENTS, report: EVENTS });
  });

  it('a replay killed mid-way: the next one resumes where it stopped, and the swapped-in tables are right', async () => {
    const s = system();
    const end = (await logBounds(await s.broker()))!.last;
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
              .query<{ last_offset: string }>(
                `SELECT last_offset FROM stats_rb_report.projection_offsets WHERE projection = 'report'`,
              )
              .catch(() => ({ rows: [] as Array<{ last_offset: string }> }));
            progress = rows[0] ? Number(rows[0].last_offset) : -1;
            return progress > end * 0.2;
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
        'events in the log': end + 1,
        'rebuilt offset at the kill': `${progress} of ${end}`,
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
