import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { SYSTEM } from '../common/contracts/index.js';
import { ErrorCodes } from '../common/errors.js';
import { defineContract, publicMethod } from '../common/rpc/contract.js';
import { RpcServer } from '../common/rpc/server.js';
import { defineSystem } from '../common/system.js';
import { stringifyWithin } from '../gateway/bounded-json.js';
import { silentLogger } from './support/env.js';
import { type GatewayHarness, startTestGateway } from './support/gateway-harness.js';

/** Answers of a chosen size, at once or late. */
const blobContract = defineContract('blob', {
  bytes: publicMethod(z.strictObject({ n: z.number().int().min(0).max(200_000) })).returns<string>(),
  late: publicMethod(z.strictObject({ ms: z.number().int().min(0).max(10_000) })).returns<string>(),
});
const CAP = 16 * 1024;
let gw: GatewayHarness;
let blob: RpcServer<typeof blobContract>;
let lateFinished = 0;

beforeAll(async () => {
  gw = await startTestGateway({
    config: { rpcMaxAnswerBytes: CAP },
    system: defineSystem([...SYSTEM.contracts.values(), blobContract]),
  });
  blob = new RpcServer({
    broker: gw.serviceBroker,
    contract: blobContract,
    logger: silentLogger,
    handlers: {
      bytes: async ({ n }) => 'x'.repeat(n),
      late: async ({ ms }) => {
        await sleep(ms);
        lateFinished++;
        return 'late';
      },
    },
  });
  await blob.start();
});

afterAll(async () => {
  await blob?.stop();
  await gw?.close();
});

const req = (id: number, method: string, params: unknown) => ({ jsonrpc: '2.0', id, method, params });

describe('answers built against their cap', () => {
  it('writes JSON exactly as JSON.stringify does, and stops at the first piece past the cap', () => {
    const value = {
      a: [1, 'é', null, undefined, { b: true, d: new Date(0) }],
      c: undefined,
      n: -0.5,
      s: 'x"y',
    };
    expect(stringifyWithin(value, 1000)).toBe(JSON.stringify(value));
    expect(() => stringifyWithin({ list: Array(1000).fill({ id: 'x'.repeat(100) }) }, 10_000)).toThrow(
      /more than the 10000 bytes/,
    );
    // Bytes, not characters: three-byte characters count three times.
    expect(() => stringifyWithin('€'.repeat(400), 1000)).toThrow();
    expect(stringifyWithin('€'.repeat(300), 1000)).toBe(JSON.stringify('€'.repeat(300)));
  });

  it('ends a /rpc batch with 413 as soon as its answers pass the cap, without waiting for the rest', async () => {
    const started = performance.now();
    const r = await gw.request('/rpc', {
      method: 'POST',
      body: [
        req(1, 'blob.late', { ms: 3000 }),
        req(2, 'blob.bytes', { n: CAP / 2 }),
        req(3, 'blob.bytes', { n: CAP / 2 }),
      ],
    });
    const ms = performance.now() - started;
    expect(r.status).toBe(413);
    expect(r.body).toMatchObject({
      id: null,
      error: { code: ErrorCodes.INVALID_REQUEST, message: expect.stringContaining(`${CAP} bytes`) },
    });
    expect(lateFinished).toBe(0);
    expect(ms).toBeLessThan(2000);
    // Within the cap, a batch is answered whole, in order.
    const ok = await gw.request('/rpc', {
      method: 'POST',
      body: [req(1, 'blob.late', { ms: 10 }), req(2, 'blob.bytes', { n: 100 })],
    });
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual([
      { jsonrpc: '2.0', id: 1, result: 'late' },
      { jsonrpc: '2.0', id: 2, result: 'x'.repeat(100) },
    ]);
  });

  it('refuses a single /rpc answer and a REST answer past the cap with 413 naming it', async () => {
    const single = await gw.request('/rpc', { method: 'POST', body: req(1, 'blob.bytes', { n: CAP + 10 }) });
    expect(single.status).toBe(413);
    // The fake catalog's six tracks with their albums are small; a search for everything is not.
    const small = await gw.request('/api/tracks?limit=1');
    expect(small.status).toBe(200);
    const { token } = await gw.fakes.session();
    const big = await gw.request('/api/me', {
      token,
      method: 'PATCH',
      body: { bio: 'é'.repeat(1000) },
    });
    expect(big.status).toBe(200);
    gw.fakes.world.users.forEach((u) => {
      u.user.bio = 'x'.repeat(CAP);
    });
    const tooBig = await gw.request('/api/me', { token });
    expect(tooBig.status).toBe(413);
    expect(tooBig.body).toMatchObject({
      error: { code: ErrorCodes.INVALID_REQUEST, message: expect.stringContaining(`${CAP} bytes`) },
    });
  });
});
