import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  DEFAULT_PARTITIONS,
  partitionFor,
  partitionLabel,
  partitionNumbers,
} from '../common/events/partitions.js';
import { type RunningGateway, startGateway } from '../gateway/server.js';
import { statsService } from '../services/stats/service.js';
import { eventually, silentLogger, sleep, testConfig } from './support/env.js';
import { EventWorld, playEnvelope } from './support/plays.js';

const OPS_TOKEN = 'ops-token-of-the-lag-test';
const PROJECTIONS = ['stats', 'report'];

/** The gateway's projection_lag_events series, by `projection/partition`. */
async function lagSeries(url: string): Promise<Map<string, number>> {
  const res = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${OPS_TOKEN}` } });
  expect(res.status).toBe(200);
  const series = new Map<string, number>();
  const line = /^projection_lag_events\{service="stats",projection="(\w+)",partition="(\w+)"\} (\d+)$/gm;
  for (const m of (await res.text()).matchAll(line)) series.set(`${m[1]}/${m[2]}`, Number(m[3]));
  return series;
}

describe('/metrics: the lag of every projection in every partition', () => {
  let world: EventWorld;
  let gateway: RunningGateway;

  beforeEach(async () => {
    world = await EventWorld.open('lag');
    gateway = await startGateway({
      config: testConfig({ port: 0, opsToken: OPS_TOKEN }),
      logger: silentLogger,
      namespace: world.ns,
      drainMs: 1000,
    });
  });

  afterEach(async () => {
    await gateway?.stop();
    await world.close();
  });

  it('is 0 once caught up, and counts the events a stopped projection has not applied', {
    timeout: 120_000,
  }, async () => {
    const worker = await world.start(statsService);
    const url = `http://127.0.0.1:${gateway.port}`;
    const now = Date.now();
    const first = Array.from({ length: 40 }, (_, i) => playEnvelope(`u${i}`, `t${i % 5}`, new Date(now - i)));
    await world.publish(first);
    await eventually(() => PROJECTIONS.every((p) => world.processed(worker, p) >= first.length), 30_000);
    // Every partition of both projections has a series; none is behind. (A scrape the stats
    // service does not answer in time leaves the series out: on a loaded machine, ask again.)
    const keys = PROJECTIONS.flatMap((p) =>
      partitionNumbers(DEFAULT_PARTITIONS).map((n) => `${p}/${partitionLabel(n)}`),
    ).sort();
    let caughtUp = new Map<string, number>();
    await eventually(
      async () => {
        caughtUp = await lagSeries(url);
        return caughtUp.size > 0;
      },
      30_000,
      500,
    );
    expect([...caughtUp.keys()].sort()).toEqual(keys);
    expect([...caughtUp.values()].every((lag) => lag === 0)).toBe(true);

    // The projections stop applying (the service still answers); more plays arrive.
    for (const runner of worker.projections) await runner.stop();
    const second = Array.from({ length: 30 }, (_, i) =>
      playEnvelope(`v${i}`, `t${i % 5}`, new Date(now - 100 - i)),
    );
    await world.publish(second);
    const behind = new Map<string, number>();
    for (const e of second) {
      const label = partitionLabel(partitionFor(e, DEFAULT_PARTITIONS));
      behind.set(label, (behind.get(label) ?? 0) + 1);
    }
    // The service answers one look at the log for a few seconds (STANDINGS_MS).
    await sleep(5_100);
    let lagging = new Map<string, number>();
    await eventually(
      async () => {
        lagging = await lagSeries(url);
        return lagging.size > 0;
      },
      30_000,
      500,
    );
    for (const p of PROJECTIONS) {
      for (const n of partitionNumbers(DEFAULT_PARTITIONS)) {
        const label = partitionLabel(n);
        expect(lagging.get(`${p}/${label}`), `${p}/${label}`).toBe(behind.get(label) ?? 0);
      }
    }
    expect([...lagging.values()].reduce((a, b) => a + b, 0)).toBe(2 * second.length);
  });
});
