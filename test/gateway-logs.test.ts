import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCodes } from '../common/errors.js';
import { capturingLogger } from './support/env.js';
import { type GatewayHarness, startTestGateway } from './support/gateway-harness.js';

describe('gateway logs', () => {
  let gw: GatewayHarness;
  let lines: Array<Record<string, unknown>> = [];

  beforeAll(async () => {
    const captured = capturingLogger('info');
    lines = captured.lines;
    gw = await startTestGateway({ logger: captured.logger });
  });

  afterAll(async () => {
    await gw?.close();
  });

  it('writes one line per request with the trace id, method, route pattern, status and time', async () => {
    await gw.request('/api/tracks/t1', {
      headers: { 'x-request-id': '00000001-0000-4000-8000-000000000000' },
    });
    const mine = lines.filter((l) => l.traceId === '00000001-0000-4000-8000-000000000000');
    expect(mine).toEqual([
      expect.objectContaining({
        msg: 'request',
        method: 'GET',
        route: '/api/tracks/:id',
        status: 200,
        ms: expect.any(Number),
      }),
    ]);
  });

  it('answers an unexpected failure with a generic 500 and logs it under the trace id', async () => {
    gw.fakes.world.faults.add('catalog.getTrack');
    try {
      const r = await gw.request('/api/tracks/t1', {
        headers: { 'x-request-id': '00000002-0000-4000-8000-000000000000' },
      });
      expect(r.status).toBe(500);
      expect(r.body).toEqual({ error: { code: ErrorCodes.INTERNAL, message: 'Internal error' } });
      expect(r.text).not.toMatch(/secret|stack|at /);
      const mine = lines.filter((l) => l.traceId === '00000002-0000-4000-8000-000000000000');
      expect(mine.map((l) => l.msg)).toEqual(['request failed', 'request']);
      expect(mine[1]).toMatchObject({ status: 500 });
    } finally {
      gw.fakes.world.faults.clear();
    }
  });

  it('never logs the bearer token', async () => {
    const { token } = await gw.fakes.session();
    await gw.request('/api/me', {
      token,
      headers: { 'x-request-id': '00000003-0000-4000-8000-000000000000' },
    });
    expect(lines.some((l) => l.traceId === '00000003-0000-4000-8000-000000000000')).toBe(true);
    expect(JSON.stringify(lines)).not.toContain(token);
  });
});
