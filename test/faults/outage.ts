import { expect } from 'vitest';
import { ErrorCodes } from '../../common/errors.js';
import { eventually, sleep } from '../support/env.js';
import type { TcpProxy } from '../support/proxy.js';
import type { ApiClient, Reply, System } from '../support/system.js';
import { demoClient, PlayLoad, report, since, trackIds, waitForPlays } from './helpers.js';

export interface Outage {
  /** What breaks, for the report. */
  name: string;
  /** Seconds the dependency stays down. */
  seconds: number;
  down(): Promise<void>;
  up(): Promise<void>;
  /** Requests to probe while it is down: each must answer 503 with Retry-After, quickly. */
  probes: ReadonlyArray<readonly [method: string, path: string]>;
  /** Slowest acceptable answer to a probe during the outage (ms). */
  probeBudgetMs: number;
  /** Requests that must still answer 200 meanwhile (they need nothing that is down). */
  unaffected?: ReadonlyArray<readonly [method: string, path: string]>;
  /**
   * Whether the gateway must refuse plays meanwhile (503: it cannot get them confirmed) or
   * keep accepting them (they wait in their queues until the outage is over).
   */
  playsDuring: 'refused' | 'accepted';
}

/** `down`/`up` of an outage made by cutting a proxy of the system. */
export function proxyCut(proxy: TcpProxy): Pick<Outage, 'down' | 'up'> {
  return {
    down: () => proxy.cut(),
    up: async () => {
      await proxy.restore();
    },
  };
}

/** Requests every route once; resolves with the replies. */
async function probe(api: ApiClient, routes: Outage['probes']): Promise<Reply[]> {
  return Promise.all(routes.map(([method, path]) => api.request(method, path, { timeoutMs: 20_000 })));
}

/**
 * A listener posts plays through the gateway while a dependency goes down for a few seconds
 * and comes back. Every play the gateway accepted (202) must be stored once in history and
 * counted once in stats; requests during the outage must fail fast with 503 and Retry-After,
 * and succeed again after it.
 */
export async function playThroughOutage(system: System, outage: Outage): Promise<void> {
  const api = await demoClient(system);
  const tracks = await trackIds(system);
  // One play per track first, so the gateway knows every track and a play needs no catalog call.
  for (const t of tracks) expect((await api.play(t)).status).toBe(202);
  const routes = [...outage.probes, ...(outage.unaffected ?? [])];
  const warm = await probe(api, routes);
  expect(warm.map((r) => r.status)).toEqual(routes.map(() => 200));

  // About 300 plays a second, from before the outage until a moment after it.
  const load = new PlayLoad(api, tracks, { concurrency: 16, paceMs: 40 });
  let downAt = 0;
  let upAt = 0;
  let during: Reply[] = [];
  let unaffected: Reply[] = [];
  try {
    await load.waitAccepted(2500);
    downAt = Date.now();
    await outage.down();
    await sleep(500);
    [during, unaffected] = await Promise.all([
      probe(api, outage.probes),
      probe(api, outage.unaffected ?? []),
    ]);
    await sleep(Math.max(0, outage.seconds * 1000 - since(downAt)));
  } finally {
    upAt = Date.now();
    await outage.up();
  }
  await eventually(async () => (await probe(api, outage.probes)).every((r) => r.status === 200), 60_000, 100);
  const probesBack = Date.now();
  await sleep(1500);
  await load.stop();
  const firstAccepted = load.firstAcceptedAfter(upAt);
  const accepted = [...load.accepted];
  const figures = await waitForPlays(system, accepted);

  report(`${outage.name} under load`, {
    'plays (distinct play ids)': load.plays + tracks.length,
    'requests (retries included)': load.requests + tracks.length,
    answers: load.statusSummary(),
    'accepted (202)': accepted.length + tracks.length,
    'stored in history': figures.stored,
    'counted in stats': figures.counted,
    'accepted but missing': figures.missing,
    'duplicates applied': figures.historyDuplicates + figures.trackMismatches + figures.userMismatches,
    'dead-lettered': figures.deadHistory + figures.deadStats,
    'outage (ms)': upAt - downAt,
    'probes during outage': during.map((r) => `${r.status} in ${Math.round(r.ms)} ms`).join(', '),
    'their message': [
      ...new Set(during.map((r) => (r.body as { error?: { message?: string } }).error?.message)),
    ].join(' | '),
    ...(unaffected.length > 0
      ? {
          'unaffected routes meanwhile': unaffected
            .map((r) => `${r.status} in ${Math.round(r.ms)} ms`)
            .join(', '),
        }
      : {}),
    'first 202 after restore (ms)': firstAccepted === null ? 'none' : firstAccepted - upAt,
    'RPC back after restore (ms)': probesBack - upAt,
    'all plays settled after restore (ms)': Date.now() - upAt,
  });

  expect(firstAccepted).not.toBeNull();
  if (outage.playsDuring === 'refused') {
    // The outage really hit the load. Only "accepted" or "unavailable, retry later" came
    // back: never a 500, never a dropped connection.
    expect([...load.statuses.keys()].sort()).toEqual([202, 503]);
  } else {
    expect([...load.statuses.keys()]).toEqual([202]);
    expect(load.acceptedAt.filter((t) => t > downAt && t < upAt).length).toBeGreaterThan(0);
  }
  expect(load.withoutRetryAfter).toBe(0);
  expect(load.networkErrors).toBe(0);
  for (const r of unaffected) expect(r.status, r.text).toBe(200);
  // Requests during the outage: 503 with Retry-After, quickly.
  for (const r of during) {
    expect(r.status, r.text).toBe(503);
    expect(r.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(r.ms).toBeLessThan(outage.probeBudgetMs);
    expect((r.body as { error?: { code?: number } }).error?.code, r.text).toBe(ErrorCodes.UNAVAILABLE);
  }
  // Nothing lost, nothing twice.
  expect(figures.missing).toBe(0);
  expect(figures.historyDuplicates).toBe(0);
  // Every play was retried until accepted, with its play id: stored exactly once each.
  expect(accepted.length).toBe(load.plays);
  expect(new Set(accepted).size).toBe(accepted.length);
  expect(figures.stored).toBe(accepted.length + tracks.length);
  expect(figures.counted).toBe(figures.stored);
  expect(figures.trackMismatches).toBe(0);
  expect(figures.userMismatches).toBe(0);
  expect(figures.deadHistory + figures.deadStats).toBe(0);
}
