import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_PARTITIONS } from '../../common/events/partitions.js';
import { fairShare } from '../../common/projections/runner.js';
import { eventually, sleep } from '../support/env.js';
import { ApiClient, type System } from '../support/system.js';
import {
  leadersOf,
  logEnd,
  PlayLoad,
  playFigures,
  projectionOffsets,
  readShare,
  report,
  since,
  statisticMismatches,
  trackIds,
  useSystem,
  waitForPlays,
} from './helpers.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const N = DEFAULT_PARTITIONS;
const PROJECTIONS = ['stats', 'report'] as const;
/** Listeners of their own accounts, so plays spread over the partitions (one user, one partition). */
const LISTENERS = 12;

type Run = (...args: string[]) => Promise<{ code: number; stdout: string; stderr: string }>;

function runner(command: string, prefix: string[], env: NodeJS.ProcessEnv): Run {
  return (...args) =>
    new Promise((resolve) => {
      execFile(command, [...prefix, ...args], { cwd: ROOT, env }, (err, stdout, stderr) =>
        resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
      );
    });
}

/** The pids of the supervisor's live stats workers, by `supervisor status`. */
async function statsPids(supervisor: Run): Promise<number[]> {
  return (await supervisor('status')).stdout
    .trim()
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter(([service, , , alive]) => service === 'stats' && alive === 'yes')
    .map(([, , pid]) => Number(pid));
}

interface Sample {
  at: number;
  groups: Array<Awaited<ReturnType<typeof leadersOf>>>;
}

/** Looks at both projections' groups every 50 ms until stopped: when did what hold. */
function watchGroups(s: System): { samples: Sample[]; stop: () => Promise<void> } {
  const samples: Sample[] = [];
  let watching = true;
  const loop = (async () => {
    while (watching) {
      const at = Date.now();
      samples.push({ at, groups: await Promise.all(PROJECTIONS.map((p) => leadersOf(s, p))) });
      await sleep(50);
    }
  })();
  return {
    samples,
    stop: async () => {
      watching = false;
      await loop;
    },
  };
}

/** When `pids` (and no one else) were the group of both projections, every partition led, each pid its fair share. */
function balancedAt(samples: readonly Sample[], pids: readonly number[]): number | null {
  const sorted = [...pids].sort((a, b) => a - b);
  const hit = samples.find((s) =>
    s.groups.every((g) => {
      if (g.members !== pids.length || g.leaders.size !== N) return false;
      const led = [...g.leaders.values()].map((name) => Number(name.split(':').pop()));
      if (!led.every((pid) => sorted.includes(pid))) return false;
      const shares = sorted.map((pid) => led.filter((p) => p === pid).length).sort((a, b) => b - a);
      return shares.every((n, i) => n === fairShare(N, pids.length, i));
    }),
  );
  return hit?.at ?? null;
}

/** Listeners playing through the gateway, each as an account of its own. */
function startListening(clients: readonly ApiClient[], tracks: readonly string[]): PlayLoad[] {
  return clients.map((api) => new PlayLoad(api, tracks, { concurrency: 1, paceMs: 10 }));
}

/**
 * Stats workers run by the supervisor `./start.sh` hands the processes to, changed under a load
 * of plays with `./start.sh scale stats <n>`, as an operator does: the partitions of both
 * projections (stats and report) must move within 5 s, and every play answered 202 must be
 * counted exactly once in every statistic, against history's independent count.
 */
describe('stats workers added and removed under load (./start.sh scale stats)', () => {
  const system = useSystem({
    label: 'fscale',
    env: { REGISTER_PER_ADDRESS_PER_HOUR: '1000', REGISTER_PER_MINUTE: '1000' },
  });
  let supervisor: Run;
  let startSh: Run;
  const clients: ApiClient[] = [];
  let tracks: string[] = [];
  const accepted: string[] = [];
  afterAll(async () => {
    const stopped = await supervisor?.('stop');
    expect(stopped?.code ?? 0, stopped?.stderr).toBe(0);
  }, 120_000);

  /** Plays under way until `during` resolves and 2 s after; every play answered 202 is in `accepted`. */
  async function underLoad<T>(
    during: (loads: PlayLoad[]) => Promise<T>,
  ): Promise<{ result: T; plays: number }> {
    const loads = startListening(clients, tracks);
    let result: T;
    try {
      await eventually(() => loads.reduce((n, l) => n + l.accepted.length, 0) >= 300, 60_000);
      result = await during(loads);
      await sleep(2000);
    } finally {
      await Promise.all(loads.map((l) => l.stop()));
    }
    const ids = loads.flatMap((l) => l.accepted);
    accepted.push(...ids);
    return { result, plays: ids.length };
  }

  /** Waits until history and both projections hold every accepted play; every statistic against history. */
  async function settle(s: System) {
    await waitForPlays(s, accepted);
    const end = await logEnd(s);
    await eventually(
      async () =>
        readShare(await projectionOffsets(s, 'stats'), end) === 1 &&
        readShare(await projectionOffsets(s, 'report'), end) === 1,
      120_000,
      200,
    );
    return { figures: await playFigures(s, accepted), mismatches: await statisticMismatches(s) };
  }

  function expectExact(result: Awaited<ReturnType<typeof settle>>): void {
    const { figures, mismatches } = result;
    expect(figures.missing).toBe(0);
    expect(figures.historyDuplicates).toBe(0);
    expect(figures.stored).toBe(accepted.length);
    expect(figures.counted).toBe(accepted.length);
    expect(figures.deadStats).toBe(0);
    expect(mismatches).toEqual(Object.fromEntries(Object.keys(mismatches).map((t) => [t, 0])));
  }

  it('a third worker added under load leads its share within 5 s; every play counted once', async () => {
    const s = system();
    const runDir = join(s.dir, 'run');
    await mkdir(runDir, { recursive: true });
    const env = { ...process.env, ...s.env(), RUN_DIR: runDir };
    supervisor = runner(join(ROOT, 'scripts/run.sh'), ['scripts/supervisor'], env);
    startSh = runner(join(ROOT, 'start.sh'), [], env);
    // The supervisor takes stats over from the harness's own worker, with two workers.
    const up = await supervisor('scale', 'stats', '2');
    expect(up.code, up.stderr).toBe(0);
    for (const p of s.alive('stats')) await s.terminate(p);
    const two = await statsPids(supervisor);
    await eventually(async () => {
      const groups = await Promise.all(PROJECTIONS.map((p) => leadersOf(s, p)));
      return groups.every((g) => g.members === 2 && g.leaders.size === N);
    }, 30_000);
    tracks = await trackIds(s);
    // One at a time: the users service hashes few passwords at once, and says 503 past that.
    for (let i = 0; i < LISTENERS; i++) {
      const api = new ApiClient(s.baseUrl);
      await eventually(
        () =>
          api.register(`listener${i}_${s.ns.slice(-6)}`, `a-listening-password-${i}`).then(
            () => true,
            () => false,
          ),
        30_000,
        500,
      );
      clients.push(api);
    }

    const watch = watchGroups(s);
    const { result, plays } = await underLoad(async () => {
      const began = Date.now();
      const scaled = await startSh('scale', 'stats', '3');
      expect(scaled.code, scaled.stderr).toBe(0);
      const ready = Date.now();
      const three = await statsPids(supervisor);
      await eventually(() => balancedAt(watch.samples, three) !== null, 15_000, 50);
      return { began, ready, three };
    });
    await watch.stop();
    const { began, ready, three } = result;
    const added = three.find((pid) => !two.includes(pid))!;
    const joined = watch.samples.find((x) => x.groups.every((g) => g.members === 3))!.at;
    const balanced = balancedAt(watch.samples, three)!;
    const settledAt = Date.now();
    const outcome = await settle(s);
    const last = watch.samples[watch.samples.length - 1]!;

    report('a stats worker added under load (./start.sh scale stats 3 from 2)', {
      'plays answered 202 (all so far)': `${plays} (${accepted.length})`,
      'new worker': `pid ${added}`,
      '`./start.sh scale` returned (ready) after (ms)': ready - began,
      'joined the group → both projections balanced (ms)': balanced - joined,
      'command → balanced (ms)': balanced - began,
      'partitions of the new worker': PROJECTIONS.map(
        (p, i) =>
          `${p}: ${[...last.groups[i]!.leaders]
            .filter(([, n]) => n.endsWith(`:${added}`))
            .map(([q]) => `p${q}`)
            .join(' ')}`,
      ).join('; '),
      'caught up after the load (ms)': since(settledAt),
      'stored / counted by stats': `${outcome.figures.stored} / ${outcome.figures.counted}`,
      'rows differing from history': JSON.stringify(outcome.mismatches),
    });
    expect(three).toHaveLength(3);
    expect(balanced - joined).toBeLessThan(5_000);
    expectExact(outcome);
  });

  it('`./start.sh scale stats 1` from 3 under load: the survivor leads all within 5 s; every play counted once', async () => {
    const s = system();
    const three = await statsPids(supervisor);
    expect(three).toHaveLength(3);
    const watch = watchGroups(s);
    const { result, plays } = await underLoad(async () => {
      const began = Date.now();
      const scaled = await startSh('scale', 'stats', '1');
      expect(scaled.code, scaled.stderr).toBe(0);
      const returned = Date.now();
      const one = await statsPids(supervisor);
      await eventually(() => balancedAt(watch.samples, one) !== null, 15_000, 50);
      return { began, returned, one };
    });
    await watch.stop();
    const { began, returned, one } = result;
    const moved = balancedAt(watch.samples, one)!;
    // When the group first changed: a stopping worker let go of a partition or left.
    const before = JSON.stringify(watch.samples[0]!.groups.map((g) => [g.members, [...g.leaders]]));
    const changed = watch.samples.find(
      (x) => x.at >= began && JSON.stringify(x.groups.map((g) => [g.members, [...g.leaders]])) !== before,
    )!.at;
    const settledAt = Date.now();
    const outcome = await settle(s);

    report('./start.sh scale stats 1 from 3 under load', {
      'plays answered 202 (all so far)': `${plays} (${accepted.length})`,
      stopped: three.filter((pid) => !one.includes(pid)).join(', '),
      survivor: one.join(', '),
      '`./start.sh scale` returned (two workers stopped) after (ms)': returned - began,
      'command → the group first changed (ms)': changed - began,
      'first change → survivor leads all 2×8 partitions (ms)': moved - changed,
      'command → survivor leads all (ms)': moved - began,
      'caught up after the load (ms)': since(settledAt),
      'stored / counted by stats': `${outcome.figures.stored} / ${outcome.figures.counted}`,
      'rows differing from history': JSON.stringify(outcome.mismatches),
    });
    expect(one).toHaveLength(1);
    expect(moved - changed).toBeLessThan(5_000);
    expectExact(outcome);
  });
});
