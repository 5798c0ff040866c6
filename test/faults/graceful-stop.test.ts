import { describe, expect, it } from 'vitest';
import { isLogStream } from '../../common/events/partitions.js';
import { installClaimProbe, report, reprocessed, strikeMidWork, useSystem } from './helpers.js';

// Enough work that the stop lands mid-way on fast cores too (rabbitmqctl takes a second).
const EVENTS = 20_000;

describe('graceful stop (SIGTERM to a history worker under load)', () => {
  const system = useSystem({ label: 'fterm', workers: { history: 2 } });

  it('finishes and acks what it holds, then exits; nothing lost, nothing left unacked', async () => {
    const s = system();
    await installClaimProbe(s, 'history');
    const victim = s.alive('history')[0]!;
    const run = await strikeMidWork(s, {
      events: EVENTS,
      find: async () => (await s.unackedByPid()).get(victim.pid),
      strike: () => s.terminate(victim),
    });
    const { figures, result: stop } = run;
    const redone = await reprocessed(s, 'history', 'history.track-played');
    const heldAfter = [...(await s.unackedByPid()).values()].reduce((a, b) => a + b, 0);
    // Current figures: strikeMidWork waited out the broker's sampling delay.
    const queues = await s.queues();
    const unacked = [...queues.values()].reduce((n, q) => n + q.unacked, 0);
    // (The event log is a stream: it keeps every event, that is not work waiting.)
    const waiting = [...queues]
      .filter(([n]) => !n.endsWith('.dead') && !isLogStream(n))
      .reduce((n, [, q]) => n + q.messages, 0);

    report('graceful stop (SIGTERM to one of two history workers under load)', {
      'events published': EVENTS,
      stopped: `${victim.label} (pid ${victim.pid}), holding ${run.target} unacked at SIGTERM`,
      'stored when SIGTERM came': run.storedAtStrike,
      exit: `code ${stop.code} after ${stop.ms} ms`,
      'stored in history': figures.stored,
      'counted in stats': figures.counted,
      missing: figures.missing,
      'duplicates applied': figures.historyDuplicates + figures.trackMismatches + figures.userMismatches,
      'redelivered by the broker (history)': run.historyQueue.redeliver ?? 0,
      'processed twice (deduplicated)': redone,
      'unacked left in the namespace': unacked,
      'dead-lettered': figures.deadHistory + figures.deadStats,
    });

    expect(run.target).toBeGreaterThan(0);
    expect(run.storedAtStrike).toBeLessThan(EVENTS);
    expect(stop.code).toBe(0);
    expect(stop.signal).toBeNull();
    // It acked everything it had worked on: no event was handed to another worker to do again.
    // (Deliveries it had not started go back to the queue untouched; those count as redelivered.)
    expect(redone).toBe(0);
    expect(heldAfter).toBe(0);
    expect(unacked).toBe(0);
    expect(waiting).toBe(0);
    expect(figures.stored).toBe(EVENTS);
    expect(figures.missing).toBe(0);
    expect(figures.counted).toBe(EVENTS);
    expect(figures.historyDuplicates + figures.trackMismatches + figures.userMismatches).toBe(0);
    expect(figures.deadHistory + figures.deadStats).toBe(0);
    expect(await s.countWorkers('history')).toEqual({ processes: 1, consumers: 1 });
  });
});
