/**
 * HANDLER_DELAY_MS, the benchmarks' stand-in for work a request does elsewhere (bench/scale.ts):
 * a service run with it waits that long in every handler, and without it does not.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { historyContract } from '../common/contracts/index.js';
import { historyService } from '../services/history/service.js';
import { testConfig } from './support/env.js';
import { ServiceHarness } from './support/service-harness.js';

const alice = { userId: 'u-alice', username: 'alice', admin: false };

describe('HANDLER_DELAY_MS', () => {
  let harness: ServiceHarness | undefined;
  afterEach(async () => {
    await harness?.close();
    harness = undefined;
  });

  const timed = async (handlerDelayMs: number) => {
    harness = await ServiceHarness.open(historyService, { config: testConfig({ handlerDelayMs }) });
    const history = harness.rpc.bind(historyContract);
    await history.call('recent', { limit: 1 }, { caller: alice });
    const started = performance.now();
    await history.call('recent', { limit: 1 }, { caller: alice });
    return performance.now() - started;
  };

  it('waits that long in every handler', async () => {
    expect(await timed(400)).toBeGreaterThanOrEqual(400);
  });

  it('waits not at all by default', async () => {
    expect(await timed(0)).toBeLessThan(400);
  });
});
