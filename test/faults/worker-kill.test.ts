import { describe, expect, it } from 'vitest';
import type { Proc, System } from '../support/system.js';
import { report, strikeMidWork, useSystem } from './helpers.js';

// Enough that the history workers (one statement per batch) are still busy when stats are too.
const EVENTS = 24_000;

/** The first worker of `service` that holds unacknowledged deliveries right now, with how many. */
async function busyWorker(system: System, service: 'history' | 'stats'): Promise<[Proc, number] | undefined> {
  const held = await system.unackedByPid();
  for (const p of system.alive(service)) {
    const n = held.get(p.pid) ?? 0;
    if (n > 0) return [p, n];
  }
  return undefined;
}

describe('worker killed mid-work (kill -9 while it holds unacked messages)', () => {
  const system = useSystem({ label: 'fkill', workers: { history: 2, stats: 2 } });

  it('hands its messages to the other workers: nothing lost, nothing counted twice', async () => {
    const s = system();
    const run = await strikeMidWork(s, {
      events: EVENTS,
      find: async () => {
        const [history, stats] = [await busyWorker(s, 'history'), await busyWorker(s, 'stats')];
        return history && stats ? [history, stats] : undefined;
      },
      strike: (victims) => Promise.all(victims.map(([p]) => s.kill(p))),
      // Restarted workers join the survivors.
      after: () => Promise.all([s.startWorker('history'), s.startWorker('stats')]),
    });
    const { figures } = run;

    report('worker killed mid-work (kill -9 of one history and one stats worker)', {
      'events published': EVENTS,
      killed: run.target.map(([p, n]) => `${p.label} (pid ${p.pid}, holding ${n} unacked)`).join(', '),
      'killed after (ms)': run.struckAfterMs,
      'stored when the kill came': run.storedAtStrike,
      'stored in history': figures.stored,
      'counted in stats': figures.counted,
      missing: figures.missing,
      'duplicates applied': figures.historyDuplicates + figures.trackMismatches + figures.userMismatches,
      'redelivered by the broker (history)': run.historyQueue.redeliver ?? 0,
      'dead-lettered': figures.deadHistory + figures.deadStats,
      'all settled after the kill (ms)': run.settledAfterStrikeMs,
    });

    expect(run.result.map((exit) => exit.signal)).toEqual(['SIGKILL', 'SIGKILL']);
    for (const [, held] of run.target) expect(held).toBeGreaterThan(0);
    // The kill came mid-work, and the broker handed what the victims held to the others.
    expect(run.storedAtStrike).toBeLessThan(EVENTS);
    expect(run.historyQueue.redeliver ?? 0).toBeGreaterThan(0);
    expect(figures.stored).toBe(EVENTS);
    expect(figures.missing).toBe(0);
    expect(figures.historyDuplicates).toBe(0);
    expect(figures.counted).toBe(EVENTS);
    expect(figures.trackMismatches).toBe(0);
    expect(figures.userMismatches).toBe(0);
    expect(figures.deadHistory + figures.deadStats).toBe(0);
    expect(await s.countWorkers('history')).toEqual({ processes: 2, consumers: 2 });
    expect(await s.countWorkers('stats')).toEqual({ processes: 2, consumers: 2 });
  });
});
