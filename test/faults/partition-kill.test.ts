import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DEFAULT_PARTITIONS } from '../../common/events/partitions.js';
import { eventually } from '../support/env.js';
import type { System } from '../support/system.js';
import {
  leadersOf,
  logEnd,
  playEvents,
  playFigures,
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
const EVENTS = 15_000;
const N = DEFAULT_PARTITIONS;

/** The rows of `npm run replay -- --list` (compiled), split into columns. */
function listing(s: System): Promise<string[][]> {
  return new Promise((resolve, reject) => {
    execFile(
      join(ROOT, 'scripts/run.sh'),
      ['scripts/replay', '--list'],
      {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...s.env(), LOG_LEVEL: 'warn' },
      },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`replay --list failed: ${err.message}\n${stdout}${stderr}`));
        else
          resolve(
            stdout
              .trim()
              .split('\n')
              .slice(1)
              .map((line) => line.split('\t')),
          );
      },
    );
  });
}

describe('a stats worker leading partitions killed under plays (kill -9)', () => {
  const system = useSystem({ label: 'fpart', workers: { stats: 3 } });

  it('its partitions move to the other workers within 5 s, and every play is counted exactly once', async () => {
    const s = system();
    await eventually(async () => {
      const g = await leadersOf(s);
      return g.members === 3 && g.leaders.size === N;
    }, 30_000);
    const events = playEvents(await trackIds(s), EVENTS, 500);
    const publishing = publishAll(s, events, 50);
    // Strike while plays still arrive and every worker is applying.
    await eventually(async () => (await storedPlays(s)) > EVENTS * 0.2, 60_000, 50);
    const before = await leadersOf(s);
    const victim = s
      .alive('stats')
      .find((p) => [...before.leaders.values()].some((name) => name.endsWith(`:${p.pid}`)));
    if (!victim) throw new Error(`no stats worker leads a partition: ${JSON.stringify([...before.leaders])}`);
    const theirs = [...before.leaders].filter(([, name]) => name.endsWith(`:${victim.pid}`)).map(([p]) => p);
    const killedAt = Date.now();
    const killed = await s.kill(victim);
    await eventually(
      async () => {
        const g = await leadersOf(s);
        return (
          g.members === 2 &&
          g.leaders.size === N &&
          theirs.every((p) => !(g.leaders.get(p) ?? `:${victim.pid}`).endsWith(`:${victim.pid}`))
        );
      },
      15_000,
      50,
    );
    const movedMs = since(killedAt);
    await publishing;
    const publishedAt = Date.now();
    const storedAtEnd = await storedPlays(s);
    const end = await logEnd(s);
    await eventually(
      async () =>
        (await storedPlays(s)) >= EVENTS &&
        readShare(await projectionOffsets(s, 'stats'), end) === 1 &&
        readShare(await projectionOffsets(s, 'report'), end) === 1,
      120_000,
      200,
    );
    const figures = await playFigures(
      s,
      events.map((e) => e.id),
    );
    const after = await leadersOf(s);
    const { rows } = await s.db.query<{ report: number }>(
      'SELECT coalesce(sum(plays), 0)::int AS report FROM stats.report_tracks',
    );
    // `npm run replay -- --list`, compiled, as an operator runs it: every partition led, lag 0.
    const list = await listing(s);
    const statsRows = list.filter((r) => r[0] === 'stats');
    report('stats worker leading partitions killed under plays', {
      'events published': EVENTS,
      killed: `${victim.label} (pid ${victim.pid}), leading ${theirs.map((p) => `p${p}`).join(' ')}`,
      'partitions moved within (ms)': movedMs,
      'leaders after': [...new Set(after.leaders.values())].join(', '),
      'stored in history when publishing ended': storedAtEnd,
      'caught up after publishing (ms)': since(publishedAt),
      'stored in history': figures.stored,
      'counted by stats': figures.counted,
      'counted by the report': rows[0]!.report,
      'track / user mismatches': `${figures.trackMismatches} / ${figures.userMismatches}`,
    });
    expect(killed.signal).toBe('SIGKILL');
    expect(theirs.length).toBeGreaterThan(0);
    expect(movedMs).toBeLessThan(5_000);
    expect(after.members).toBe(2);
    expect(figures.stored).toBe(EVENTS);
    expect(figures.missing).toBe(0);
    expect(figures.counted).toBe(EVENTS);
    expect(figures.trackMismatches).toBe(0);
    expect(figures.userMismatches).toBe(0);
    expect(figures.deadStats).toBe(0);
    expect(rows[0]!.report).toBe(EVENTS);
    expect(statsRows.map((r) => r[2])).toEqual(Array.from({ length: N }, (_, i) => `p${i}`));
    for (const r of statsRows) {
      // PROJECTION SERVICE PARTITION LEADER DB_PID OFFSET LAG APPLIED UPDATED
      expect(r[3]).toMatch(/:\d+$/);
      expect(r[3]).not.toContain(`:${victim.pid}`);
      expect(r[6]).toBe('0');
    }
    // What it says was applied is what the offsets hold (the plays, and the demo registration).
    const { rows: stored } = await s.db.query<{ n: number }>(
      `SELECT sum(applied)::int AS n FROM stats.projection_offsets WHERE projection = 'stats'`,
    );
    expect(statsRows.reduce((n, r) => n + Number(r[7]), 0)).toBe(stored[0]!.n);
    expect(stored[0]!.n).toBeGreaterThanOrEqual(EVENTS);
  });
});
