import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCodes } from '../common/errors.js';
import { JSON_MAX_DEPTH, JSON_MAX_VALUES, jsonShapeProblem } from '../gateway/json-shape.js';
import { type GatewayHarness, startTestGateway } from './support/gateway-harness.js';

const ALLOWED = 'https://player.example.com';
let gw: GatewayHarness;
let own: string;

beforeAll(async () => {
  gw = await startTestGateway({ config: { allowedOrigins: ALLOWED } });
  own = gw.url;
});

afterAll(async () => {
  await gw?.close();
});

const call = { jsonrpc: '2.0', id: 1, method: 'catalog.listGenres', params: {} };
const errorCode = (body: unknown) => (body as { error?: { code?: number } }).error?.code;

describe('cross-site requests', () => {
  it('/rpc takes only application/json: a text/plain or form body (no preflight) is a 415', async () => {
    for (const type of [
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
    ]) {
      const r = await gw.request('/rpc', {
        method: 'POST',
        body: JSON.stringify(call),
        headers: { 'content-type': type },
      });
      expect(r.status, type).toBe(415);
      expect(r.body).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: ErrorCodes.INVALID_REQUEST } });
    }
    const json = await gw.request('/rpc', { method: 'POST', body: call });
    expect(json.status).toBe(200);
    expect(json.body).toMatchObject({ id: 1, result: expect.any(Array) });
  });

  it('refuses a login, a registration or a /rpc call from a foreign origin, before it runs', async () => {
    const before = gw.fakes.world.calls.length;
    const foreign = { origin: 'https://evil.example' };
    const attempts = [
      gw.request('/api/sessions', {
        method: 'POST',
        body: { username: 'demo', password: 'guess' },
        headers: foreign,
      }),
      gw.request('/api/users', {
        method: 'POST',
        body: { username: 'newone', password: 'long enough' },
        headers: foreign,
      }),
      gw.request('/rpc', {
        method: 'POST',
        body: {
          jsonrpc: '2.0',
          id: 1,
          method: 'users.login',
          params: { username: 'demo', password: 'guess' },
        },
        headers: foreign,
      }),
      gw.request('/api/plays', { method: 'POST', body: { trackId: 't1' }, headers: { origin: 'null' } }),
    ];
    for (const r of await Promise.all(attempts)) {
      expect(r.status, r.text).toBe(403);
      expect(errorCode(r.body)).toBe(ErrorCodes.FORBIDDEN);
    }
    expect(gw.fakes.world.calls.slice(before).map((c) => c.method)).not.toContain('users.login');
    expect(gw.fakes.world.calls.slice(before).map((c) => c.method)).not.toContain('users.register');
  });

  it("takes changes from the gateway's own pages and the allowed origins; reads from anywhere", async () => {
    const { token } = await gw.fakes.session();
    for (const origin of [own, ALLOWED]) {
      const created = await gw.request('/api/playlists', {
        method: 'POST',
        token,
        body: { name: `from ${origin}` },
        headers: { origin },
      });
      expect(created.status, `${origin}: ${created.text}`).toBe(201);
      const rpc = await gw.request('/rpc', { method: 'POST', body: call, headers: { origin } });
      expect(rpc.status, origin).toBe(200);
    }
    const read = await gw.request('/api/genres', { headers: { origin: 'https://evil.example' } });
    expect(read.status).toBe(200);
    // No CORS: nothing tells a browser it may show another site the answer.
    expect(read.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('refuses Subsonic requests a browser sends from another site before checking credentials', async () => {
    const before = gw.fakes.world.calls.length;
    const ping = (headers: Record<string, string>) =>
      gw.request('/rest/ping.view?u=victim&p=guess&v=1.16.1&c=img&f=json', { headers });
    const browsers: Array<Record<string, string>> = [
      { 'sec-fetch-site': 'cross-site' },
      { origin: 'https://evil.example' },
    ];
    for (const headers of browsers) {
      const r = await ping(headers);
      expect(r.body, JSON.stringify(headers)).toMatchObject({
        'subsonic-response': { status: 'failed', error: { code: 50 } },
      });
    }
    // Nothing reached the users service: no failed login was counted for the victim.
    expect(gw.fakes.world.calls.slice(before).map((c) => c.method)).not.toContain('users.subsonicAuth');
    // A player (no browser headers) is served as before.
    const { user } = await gw.fakes.session('subsonic_ok');
    const ok = await gw.request(`/rest/ping.view?u=${user.username}&p=secret123&v=1.16.1&c=app&f=json`, {
      headers: { 'sec-fetch-site': 'same-origin' },
    });
    expect(ok.body).toMatchObject({ 'subsonic-response': { status: expect.any(String) } });
    expect(gw.fakes.world.calls.slice(before).map((c) => c.method)).toContain('users.subsonicAuth');
  });
});

describe('JSON bodies refused from their shape, before parsing', () => {
  const wide = `[${Array(349_000).fill('[]').join(',')}]`;

  it('counts values and depth in one pass that stops at the limit', () => {
    expect(jsonShapeProblem(Buffer.from(wide))).toMatchObject({ status: 413 });
    expect(
      jsonShapeProblem(Buffer.from(`${'['.repeat(JSON_MAX_DEPTH + 1)}${']'.repeat(JSON_MAX_DEPTH + 1)}`)),
    ).toMatchObject({
      status: 400,
    });
    // Brackets and commas inside strings are text.
    expect(jsonShapeProblem(Buffer.from(JSON.stringify({ q: '[,{'.repeat(100_000) })))).toBeUndefined();
    expect(
      jsonShapeProblem(
        Buffer.from(JSON.stringify({ q: 'a\\"[[[', ids: Array(JSON_MAX_VALUES - 5).fill(1) })),
      ),
    ).toBeUndefined();
    // Refusing the wide body stops at its first 10,000 values: a small part of what parsing it costs.
    const buf = Buffer.from(wide);
    const time = (fn: () => unknown) => {
      const started = performance.now();
      for (let k = 0; k < 5; k++) fn();
      return (performance.now() - started) / 5;
    };
    const scan = time(() => jsonShapeProblem(buf));
    const parse = time(() => JSON.parse(wide));
    expect(scan * 10).toBeLessThan(parse);
  });

  it('answers a too-wide /rpc or REST body 413 naming the cap', async () => {
    const rpc = await gw.request('/rpc', { method: 'POST', body: wide });
    expect(rpc.status).toBe(413);
    expect(rpc.body).toMatchObject({
      error: {
        code: ErrorCodes.INVALID_REQUEST,
        message: expect.stringContaining(`${JSON_MAX_VALUES} values`),
      },
    });
    const { token } = await gw.fakes.session();
    const rest = await gw.request('/api/playlists', { method: 'POST', token, body: wide });
    expect(rest.status).toBe(413);
    expect(rest.body).toMatchObject({
      error: { message: expect.stringContaining(`${JSON_MAX_VALUES} values`) },
    });
    const deep = await gw.request('/api/playlists', {
      method: 'POST',
      token,
      body: `{"name":${'['.repeat(100)}${']'.repeat(100)}}`,
    });
    expect(deep.status).toBe(400);
  });
});
