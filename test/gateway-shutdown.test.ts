import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startGateway } from '../gateway/server.js';
import { silentLogger, sleep, testConfig } from './support/env.js';
import { type GatewayHarness, startTestGateway } from './support/gateway-harness.js';

describe('gateway shutdown', () => {
  let gw: GatewayHarness;

  beforeEach(async () => {
    gw = await startTestGateway({ rpcTimeoutMs: 3000 });
  });

  afterEach(async () => {
    await gw.close(); // stop() is idempotent: the second call waits on the first
  });

  it('finishes requests in flight, then refuses new connections and closes', async () => {
    gw.fakes.world.delays.set('catalog.getTrack', 600);
    const inFlight = gw.request('/api/tracks/t1');
    await sleep(150); // the request is now waiting on the (slow) catalog
    const stopped = gw.gateway.stop();
    await sleep(50);
    await expect(fetch(`${gw.url}/api/genres`)).rejects.toThrow();
    const answer = await inFlight;
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ id: 't1' });
    await stopped;
    expect(gw.gateway.server.listening).toBe(false);
    expect(gw.gateway.broker.connected).toBe(false);
  });
});

describe('gateway start', () => {
  it('fails with the reason when the port is taken', async () => {
    const gw = await startTestGateway();
    try {
      const started = startGateway({
        config: testConfig({ port: gw.gateway.port }),
        logger: silentLogger,
        namespace: gw.ns,
      });
      await expect(started).rejects.toMatchObject({ code: 'EADDRINUSE' });
    } finally {
      await gw.close();
    }
  });
});
