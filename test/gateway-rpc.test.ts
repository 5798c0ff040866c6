import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCodes } from '../common/errors.js';
import { eventually } from './support/env.js';
import { type GatewayHarness, type Reply, startTestGateway } from './support/gateway-harness.js';

let gw: GatewayHarness;

beforeAll(async () => {
  gw = await startTestGateway({ rpcTimeoutMs: 400, options: { maxBatch: 20 } });
});

afterAll(async () => {
  await gw?.close();
});

interface RpcAnswer {
  jsonrpc: '2.0';
  id: string | number | null;
  result?: unknown;
  error?: { code: number; message: string; data?: unknown };
}

function rpc(body: unknown, token?: string): Promise<Reply> {
  return gw.request('/rpc', {
    method: 'POST',
    body: typeof body === 'string' ? body : JSON.stringify(body),
    token,
  });
}

const call = (method: string, params: unknown, id: string | number | null = 1) => ({
  jsonrpc: '2.0',
  id,
  method,
  params,
});

describe('POST /rpc', () => {
  it('passes a single call through to its service', async () => {
    const r = await rpc(call('catalog.getTrack', { id: 't1' }, 'abc'));
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      jsonrpc: '2.0',
      id: 'abc',
      result: expect.objectContaining({ id: 't1', title: 'First Light' }),
    });
    // id null is a request (it gets an answer), not a notification.
    expect((await rpc(call('catalog.listGenres', {}, null))).body).toMatchObject({
      id: null,
      result: [{}, {}],
    });
  });

  it('answers invalid JSON with -32700 and id null', async () => {
    const r = await rpc('{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]');
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: ErrorCodes.PARSE_ERROR } });
    const notUtf8 = await gw.request('/rpc', {
      method: 'POST',
      body: Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]),
    });
    expect(notUtf8.body).toMatchObject({ id: null, error: { code: ErrorCodes.PARSE_ERROR } });
    expect((await gw.request('/rpc', { method: 'POST' })).body).toMatchObject({
      error: { code: ErrorCodes.PARSE_ERROR },
    });
  });

  it('answers malformed requests with -32600', async () => {
    const cases: Array<[unknown, string | number | null]> = [
      [{ jsonrpc: '2.0', method: 1, params: 'bar' }, null],
      [{ jsonrpc: '1.0', id: 7, method: 'catalog.listGenres' }, 7],
      [{ id: 8, method: 'catalog.listGenres' }, 8],
      [{ jsonrpc: '2.0', id: 9, method: 'catalog.listGenres', params: 'x' }, 9],
      [{ jsonrpc: '2.0', id: { no: 1 }, method: 'catalog.listGenres' }, null],
      [JSON.stringify('just a string'), null],
      [42, null],
    ];
    for (const [request, id] of cases) {
      const r = await rpc(request);
      expect(r.status, JSON.stringify(request)).toBe(200);
      expect(r.body, JSON.stringify(request)).toEqual({
        jsonrpc: '2.0',
        id,
        error: { code: ErrorCodes.INVALID_REQUEST, message: expect.any(String) },
      });
    }
  });

  it('answers an empty batch with one -32600 and a batch of junk with one -32600 each', async () => {
    expect((await rpc([])).body).toEqual({
      jsonrpc: '2.0',
      id: null,
      error: { code: ErrorCodes.INVALID_REQUEST, message: expect.any(String) },
    });
    const junk = await rpc([1, 2, 3]);
    expect(junk.body).toHaveLength(3);
    for (const answer of junk.body as RpcAnswer[]) {
      expect(answer).toMatchObject({ id: null, error: { code: ErrorCodes.INVALID_REQUEST } });
    }
  });

  it('answers a mixed batch in order, skipping notifications', async () => {
    const r = await rpc([
      call('catalog.getTrack', { id: 't3' }, '1'),
      { jsonrpc: '2.0', method: 'catalog.listGenres', params: {} },
      call('catalog.getTrack', { id: 'nope' }, '2'),
      { foo: 'boo' },
      call('catalog.noSuchMethod', {}, '5'),
      call('catalog.getTrack', { id: 't1', extra: 1 }, '9'),
      call('stats.overview', {}, 10),
    ]);
    expect(r.status).toBe(200);
    const answers = r.body as RpcAnswer[];
    expect(answers.map((a) => a.id)).toEqual(['1', '2', null, '5', '9', 10]);
    expect(answers[0]?.result).toMatchObject({ id: 't3' });
    expect(answers[1]?.error?.code).toBe(ErrorCodes.NOT_FOUND);
    expect(answers[2]?.error?.code).toBe(ErrorCodes.INVALID_REQUEST);
    expect(answers[3]?.error?.code).toBe(ErrorCodes.METHOD_NOT_FOUND);
    expect(answers[4]?.error).toMatchObject({
      code: ErrorCodes.INVALID_PARAMS,
      message: expect.stringMatching(/extra/),
    });
    expect(answers[5]?.result).toMatchObject({ totalPlays: expect.any(Number) });
  });

  it('answers 204 with no body when everything is a notification, and still runs them', async () => {
    const { token, user } = await gw.fakes.session();
    const single = await rpc(
      { jsonrpc: '2.0', method: 'users.updateProfile', params: { bio: 'quiet' } },
      token,
    );
    expect(single.status).toBe(204);
    expect(single.text).toBe('');
    await eventually(() => gw.fakes.world.users.get(user.username)?.user.bio === 'quiet');

    const batch = await rpc(
      [
        { jsonrpc: '2.0', method: 'playlists.create', params: { name: 'From a notification' } },
        { jsonrpc: '2.0', method: 'catalog.noSuchMethod', params: {} },
        { jsonrpc: '2.0', method: 'nothing.here' },
      ],
      token,
    );
    expect(batch.status).toBe(204);
    expect(batch.text).toBe('');
    await eventually(() =>
      [...gw.fakes.world.playlists.values()].some(
        (p) => p.ownerId === user.id && p.name === 'From a notification',
      ),
    );
  });

  it('answers unknown services and methods, and internal ones, with -32601', async () => {
    for (const method of [
      'nope.listGenres',
      'catalog',
      '.listGenres',
      'catalog.',
      'catalog.toString',
      'catalog.__proto__',
      'catalog.getTrackFile',
      'history.export',
      'users.subsonicAuth',
    ]) {
      const r = await rpc(call(method, { id: 't1' }));
      expect(r.body, method).toMatchObject({ id: 1, error: { code: ErrorCodes.METHOD_NOT_FOUND } });
    }
    const since = gw.fakes.world.calls.length;
    await rpc(call('catalog.getTrackFile', { id: 't1' }));
    expect(gw.fakes.callsOf('catalog.getTrackFile', since)).toHaveLength(0);
    // verifyToken is meant to be public.
    expect((await rpc(call('users.verifyToken', { token: 'bogus' }))).body).toMatchObject({
      error: { code: ErrorCodes.UNAUTHORIZED },
    });
  });

  it('passes the bearer token on as the caller; a bad token is HTTP 401', async () => {
    const { token, user } = await gw.fakes.session();
    expect((await rpc(call('users.me', {}), token)).body).toMatchObject({ result: { id: user.id } });
    expect((await rpc(call('users.me', {}))).body).toMatchObject({
      error: { code: ErrorCodes.UNAUTHORIZED },
    });
    const bad = await rpc(call('users.me', {}), 'not-a-token');
    expect(bad.status).toBe(401);
    expect(bad.body).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: ErrorCodes.UNAUTHORIZED } });
  });

  it("refuses to read another user's history or stats", async () => {
    const me = await gw.fakes.session();
    const other = await gw.fakes.session();
    const r = await rpc(
      [
        call('history.recent', { userId: other.user.id }, 1),
        call('stats.user', { userId: other.user.id }, 2),
        call('history.recent', { userId: me.user.id }, 3),
        call('history.recent', {}, 4),
      ],
      me.token,
    );
    const answers = r.body as RpcAnswer[];
    expect(answers[0]?.error?.code).toBe(ErrorCodes.FORBIDDEN);
    expect(answers[1]?.error?.code).toBe(ErrorCodes.FORBIDDEN);
    expect(answers[2]?.result).toEqual([]);
    expect(answers[3]?.result).toEqual([]);
    const anonymous = await rpc(call('history.recent', { userId: other.user.id }));
    expect(anonymous.body).toMatchObject({ error: { code: ErrorCodes.FORBIDDEN } });
  });

  it('caps the batch size and the body size', async () => {
    const big = Array.from({ length: 21 }, (_, i) => call('catalog.listGenres', {}, i));
    expect((await rpc(big)).body).toMatchObject({ id: null, error: { code: ErrorCodes.INVALID_REQUEST } });
    const huge = await rpc(call('catalog.search', { q: 'x'.repeat(1_100_000) }));
    expect(huge.status).toBe(413);
    expect(huge.body).toMatchObject({
      jsonrpc: '2.0',
      id: null,
      error: { code: ErrorCodes.INVALID_REQUEST },
    });
  });

  it('answers a service that does not reply with a timeout error for that request only', async () => {
    await gw.fakes.stop('history');
    try {
      const r = await rpc([call('history.recent', { limit: 1 }, 1), call('catalog.listGenres', {}, 2)]);
      const answers = r.body as RpcAnswer[];
      expect(answers[0]?.error?.code).toBe(ErrorCodes.TIMEOUT);
      expect(answers[1]?.result).toHaveLength(2);
    } finally {
      await gw.fakes.start('history');
    }
  });

  it('carries the trace id to the service', async () => {
    const r = await gw.request('/rpc', {
      method: 'POST',
      body: JSON.stringify(call('catalog.getArtist', { id: 'ar1' })),
      headers: { 'x-request-id': 'rpc-trace-7' },
    });
    expect(r.headers.get('x-request-id')).toBe('rpc-trace-7');
    expect(gw.fakes.world.calls.find((c) => c.traceId === 'rpc-trace-7')?.method).toBe('catalog.getArtist');
  });
});
