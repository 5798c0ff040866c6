import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_PLAYS_PER_REQUEST, PlayAllowance, playEventId } from '../common/contracts/plays.js';
import { ErrorCodes } from '../common/errors.js';
import { type GatewayHarness, startTestGateway } from './support/gateway-harness.js';

describe('the play allowance of an account', () => {
  it('takes a full batch at once, refills over the hour, and says how long to wait', () => {
    let now = 0;
    const allowance = new PlayAllowance(600, () => now);
    allowance.take('u1', MAX_PLAYS_PER_REQUEST);
    expect(() => allowance.take('u1', 100)).not.toThrow();
    let refused: unknown;
    try {
      allowance.take('u1', 100);
    } catch (err) {
      refused = err;
    }
    expect(refused).toMatchObject({ code: ErrorCodes.RATE_LIMITED });
    // 600 an hour is one every 6 s: 100 more need about 600 s.
    expect((refused as { data: { retryAfterSeconds: number } }).data.retryAfterSeconds).toBeGreaterThan(500);
    // Other accounts have their own.
    expect(() => allowance.take('u2', MAX_PLAYS_PER_REQUEST)).not.toThrow();
    now += 600_000;
    expect(() => allowance.take('u1', 100)).not.toThrow();
  });

  it('derives a play id from the user and the key only', () => {
    expect(playEventId('u1', 'k')).toBe(playEventId('u1', 'k'));
    expect(playEventId('u1', 'k')).not.toBe(playEventId('u2', 'k'));
    expect(playEventId('u1', 'k')).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
  });
});

describe('plays per account through the gateway', () => {
  let gw: GatewayHarness;
  beforeAll(async () => {
    gw = await startTestGateway({ config: { playsPerHour: 600 } });
  });
  afterAll(async () => {
    await gw?.close();
  });

  it('refuses an account posting plays faster than anyone listens, before publishing anything', async () => {
    const { token } = await gw.fakes.session();
    const batch = { plays: Array.from({ length: MAX_PLAYS_PER_REQUEST }, () => ({ trackId: 't1' })) };
    const first = await gw.request('/api/plays/batch', { method: 'POST', token, body: batch });
    expect(first.status).toBe(202);
    const second = await gw.request('/api/plays/batch', { method: 'POST', token, body: batch });
    expect(second.status).toBe(429);
    expect(Number(second.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(second.body).toMatchObject({ error: { message: expect.stringContaining('600 an hour') } });
    // Another account is not affected.
    const other = await gw.fakes.session();
    expect(
      (await gw.request('/api/plays', { method: 'POST', token: other.token, body: { trackId: 't1' } }))
        .status,
    ).toBe(202);
  });
});
