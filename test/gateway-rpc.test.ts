import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { SYSTEM } from '../common/contracts/index.js';
import { ErrorCodes } from '../common/errors.js';
import { defineContract, internalMethod, publicMethod } from '../common/rpc/contract.js';
import { RpcServer } from '../common/rpc/server.js';
import { defineSystem } from '../common/system.js';
import { eventually, silentLogger } from './support/env.js';
import { type GatewayHarness, type Reply, startTestGateway } from './support/gateway-harness.js';

/**
 * A service added after the gateway was written: nothing in gateway/ names it, so what /rpc
 * does with it comes from its contract alone.
 */
const probeContract = defineContract('probe', {
  /** Takes notifications: a fire-and-forget hint. */
  hint: publicMethod(z.strictObject({ note: z.string().max(100) }), { notification: true }).returns<null>(),
  /** New and internal: must be unreachable from /rpc. */
  rebuildEverything: internalMethod(z.strictObject({})).returns<{ rebuilt: true }>(),
});
const hints: string[] = [];
let rebuilt = 0;
let probe: RpcServer<typeof probeContract>;

/** The methods of the examples in the JSON-RPC 2.0 specification, with positional params. */
const specContract = defineContract('spec', {
  sum: publicMethod(z.array(z.number()).max(10)).returns<number>(),
  subtract: publicMethod(z.tuple([z.number(), z.number()])).returns<number>(),
  get_data: publicMethod(z.strictObject({})).returns<[string, number]>(),
  update: publicMethod(z.array(z.number()).max(10), { notification: true }).returns<null>(),
  notify_hello: publicMethod(z.tuple([z.number()]), { notification: true }).returns<null>(),
  notify_sum: publicMethod(z.array(z.number()).max(10), { notification: true }).returns<null>(),
});
const notified: string[] = [];
let spec: RpcServer<typeof specContract>;

/** Small enough for a test to exceed; every other answer here is far below it. */
const MAX_ANSWER_BYTES = 64 * 1024;

let gw: GatewayHarness;

beforeAll(async () => {
  gw = await startTestGateway({
    rpcTimeoutMs: 400,
    config: { rpcMaxAnswerBytes: MAX_ANSWER_BYTES },
    system: defineSystem([...SYSTEM.contracts.values(), probeContract, specContract]),
  });
  probe = new RpcServer({
    broker: gw.serviceBroker,
    contract: probeContract,
    logger: silentLogger,
    handlers: {
      hint: async ({ note }) => {
        hints.push(note);
        return null;
      },
      rebuildEverything: async () => {
        rebuilt++;
        return { rebuilt: true };
      },
    },
  });
  await probe.start();
  spec = new RpcServer({
    broker: gw.serviceBroker,
    contract: specContract,
    logger: silentLogger,
    handlers: {
      sum: async (numbers) => numbers.reduce((a, b) => a + b, 0),
      subtract: async ([a, b]) => a - b,
      get_data: async () => ['hello', 5],
      update: async (numbers) => {
        notified.push(`update ${numbers.join(',')}`);
        return null;
      },
      notify_hello: async ([n]) => {
        notified.push(`hello ${n}`);
        return null;
      },
      notify_sum: async (numbers) => {
        notified.push(`sum ${numbers.join(',')}`);
        return null;
      },
    },
  });
  await spec.start();
});

afterAll(async () => {
  await spec?.stop();
  await probe?.stop();
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
    // A POST with no body has no JSON Content-Type either.
    const empty = await gw.request('/rpc', { method: 'POST' });
    expect(empty.status).toBe(415);
    expect(empty.body).toMatchObject({ error: { code: ErrorCodes.INVALID_REQUEST } });
    const emptyJson = await gw.request('/rpc', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
    });
    expect(emptyJson.body).toMatchObject({ error: { code: ErrorCodes.PARSE_ERROR } });
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

  it('answers a mixed batch in order', async () => {
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
    // catalog.listGenres takes no notifications: it does not run, and is not answered either.
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

  it('runs notifications of methods that take them, drops the others, and answers none', async () => {
    const single = await rpc({ jsonrpc: '2.0', method: 'probe.hint', params: { note: 'one' } });
    expect(single.status).toBe(204);
    expect(single.text).toBe('');
    await eventually(() => hints.includes('one'));

    const { token, user } = await gw.fakes.session();
    const since = gw.fakes.world.calls.length;
    const batch = await rpc(
      [
        { jsonrpc: '2.0', method: 'probe.hint', params: { note: 'two' } },
        { jsonrpc: '2.0', method: 'users.updateProfile', params: { bio: 'quiet' } },
        { jsonrpc: '2.0', method: 'playlists.create', params: { name: 'From a notification' } },
        { jsonrpc: '2.0', method: 'catalog.noSuchMethod', params: {} },
      ],
      token,
    );
    // The specification allows no answer to a notification, refused or not: nothing at all.
    expect(batch.status).toBe(204);
    expect(batch.text).toBe('');
    const withCall = await rpc(
      [
        { jsonrpc: '2.0', method: 'users.updateProfile', params: { bio: 'loud' } },
        call('catalog.listGenres', {}, 'g'),
      ],
      token,
    );
    expect((withCall.body as RpcAnswer[]).map((a) => a.id)).toEqual(['g']);
    await eventually(() => hints.includes('two'));
    expect(gw.fakes.callsOf('users.updateProfile', since)).toHaveLength(0);
    expect(gw.fakes.callsOf('playlists.create', since)).toHaveLength(0);
    expect(gw.fakes.world.users.get(user.username)?.user.bio).toBe('');
  });

  it('exposes exactly what the contracts declare: internal methods do not exist, user methods need a login', async () => {
    const since = gw.fakes.world.calls.length;
    let checked = 0;
    for (const contract of [...SYSTEM.contracts.values(), probeContract]) {
      for (const [name, spec] of Object.entries(contract.methods)) {
        const method = `${contract.service}.${name}`;
        // A session of its own: one of these calls is users.logout.
        const { token } = await gw.fakes.session();
        const single = (await rpc(call(method, {}), token)).body as RpcAnswer;
        const notification = await rpc({ jsonrpc: '2.0', method, params: {} }, token);
        const batch = (await rpc([call('catalog.listGenres', {}, 1), call(method, {}, 2)], token))
          .body as RpcAnswer[];
        const anonymous = (await rpc(call(method, {}))).body as RpcAnswer;
        if (spec.visibility === 'internal') {
          expect(single.error?.code, method).toBe(ErrorCodes.METHOD_NOT_FOUND);
          expect(notification.status, method).toBe(204);
          expect(batch[1]?.error?.code, method).toBe(ErrorCodes.METHOD_NOT_FOUND);
        } else {
          expect(single.error?.code, method).not.toBe(ErrorCodes.METHOD_NOT_FOUND);
          expect(batch[1]?.error?.code, method).not.toBe(ErrorCodes.METHOD_NOT_FOUND);
        }
        if (spec.visibility === 'user' || spec.visibility === 'admin')
          expect(anonymous.error?.code, method).toBe(ErrorCodes.UNAUTHORIZED);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(30);
    // Nothing internal, and no user method without a login, ever reached a service.
    const reached = gw.fakes.world.calls.slice(since);
    const visibility = (method: string) => SYSTEM.method(method)?.spec.visibility;
    // (users.verifyToken is the gateway's own check of the bearer token, not a call from /rpc.)
    expect(
      reached.filter((c) => visibility(c.method) === 'internal' && c.method !== 'users.verifyToken'),
    ).toEqual([]);
    expect(
      reached.filter((c) => c.caller === undefined && visibility(c.method) === 'user').map((c) => c.method),
    ).toEqual([]);
    // Nor an admin method for a caller who is not an admin.
    expect(
      reached.filter((c) => !c.caller?.admin && visibility(c.method) === 'admin').map((c) => c.method),
    ).toEqual([]);
    expect(rebuilt).toBe(0);
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
      'users.verifyToken',
      'probe.rebuildEverything',
    ]) {
      const r = await rpc(call(method, { id: 't1' }));
      expect(r.body, method).toMatchObject({ id: 1, error: { code: ErrorCodes.METHOD_NOT_FOUND } });
    }
    const since = gw.fakes.world.calls.length;
    await rpc(call('catalog.getTrackFile', { id: 't1' }));
    expect(gw.fakes.callsOf('catalog.getTrackFile', since)).toHaveLength(0);
    expect(rebuilt).toBe(0);
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

  it("has no way to name another user's history or stats", async () => {
    const me = await gw.fakes.session();
    const other = await gw.fakes.session();
    const r = await rpc(
      [
        call('history.recent', { userId: other.user.id }, 1),
        call('stats.user', { userId: other.user.id }, 2),
        call('history.recent', {}, 3),
      ],
      me.token,
    );
    const answers = r.body as RpcAnswer[];
    expect(answers[0]?.error?.code).toBe(ErrorCodes.INVALID_PARAMS);
    expect(answers[1]?.error?.code).toBe(ErrorCodes.INVALID_PARAMS);
    expect(answers[2]?.result).toEqual([]);
    const anonymous = await rpc(call('history.recent', {}));
    expect(anonymous.body).toMatchObject({ error: { code: ErrorCodes.UNAUTHORIZED } });
  });

  it('caps the calls per batch, the items per list, the answer and the body, naming each cap', async () => {
    const big = Array.from({ length: 21 }, (_, i) => call('catalog.listGenres', {}, i));
    const tooMany = await rpc(big);
    expect(tooMany.status).toBe(413);
    expect(tooMany.body).toMatchObject({
      id: null,
      error: { code: ErrorCodes.INVALID_REQUEST, message: expect.stringContaining('at most 20 requests') },
    });
    // Notifications count like any request.
    const notes = Array.from({ length: 21 }, () => ({
      jsonrpc: '2.0',
      method: 'probe.hint',
      params: { note: 'x' },
    }));
    expect((await rpc(notes)).status).toBe(413);

    const ids = Array.from({ length: 101 }, (_, i) => `t${(i % 6) + 1}`);
    const since = gw.fakes.world.calls.length;
    expect((await rpc(call('catalog.getTracks', { ids }))).body).toMatchObject({
      error: { code: ErrorCodes.INVALID_PARAMS, message: expect.stringContaining('at most 100 per list') },
    });
    expect(gw.fakes.callsOf('catalog.getTracks', since)).toHaveLength(0);
    expect((await rpc(call('catalog.getTracks', { ids: ids.slice(0, 100) }))).body).toMatchObject({
      result: expect.any(Array),
    });

    // Twenty calls of a hundred tracks each: within the request caps, far over the answer's.
    const heavy = Array.from({ length: 20 }, (_, i) =>
      call('catalog.getTracks', { ids: ids.slice(0, 100) }, i),
    );
    const answer = await rpc(heavy);
    expect(answer.status).toBe(413);
    expect(answer.body).toMatchObject({
      id: null,
      error: {
        code: ErrorCodes.INVALID_REQUEST,
        message: expect.stringContaining(`${MAX_ANSWER_BYTES} bytes`),
      },
    });

    const huge = await rpc(call('catalog.search', { q: 'x'.repeat(1_100_000) }));
    expect(huge.status).toBe(413);
    expect(huge.body).toMatchObject({
      jsonrpc: '2.0',
      id: null,
      error: { code: ErrorCodes.INVALID_REQUEST },
    });
  });

  it('says "text must not contain NUL characters", never the database\'s words', async () => {
    const r = await rpc(call('catalog.search', { q: 'blue\u0000' }));
    expect(r.body).toMatchObject({
      error: {
        code: ErrorCodes.INVALID_PARAMS,
        message: 'invalid params: q: text must not contain NUL characters',
      },
    });
  });

  it('answers a service that does not reply with a timeout error for that request only', async () => {
    await gw.fakes.stop('history');
    try {
      const { token } = await gw.fakes.session();
      const r = await rpc(
        [call('history.recent', { limit: 1 }, 1), call('catalog.listGenres', {}, 2)],
        token,
      );
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
      headers: { 'x-request-id': '00000007-0000-4000-8000-000000000000' },
    });
    expect(r.headers.get('x-request-id')).toBe('00000007-0000-4000-8000-000000000000');
    expect(
      gw.fakes.world.calls.find((c) => c.traceId === '00000007-0000-4000-8000-000000000000')?.method,
    ).toBe('catalog.getArtist');
  });
  // The examples of https://www.jsonrpc.org/specification#examples that hold notifications,
  // as written there except that method names carry this system's `service.` prefix.
  it("follows the specification's examples with notifications", async () => {
    notified.length = 0;
    const one = await rpc('{"jsonrpc": "2.0", "method": "spec.update", "params": [1,2,3,4,5]}');
    expect(one.status).toBe(204);
    expect(one.text).toBe('');
    const unknown = await rpc('{"jsonrpc": "2.0", "method": "foobar"}');
    expect(unknown.status).toBe(204);
    expect(unknown.text).toBe('');

    const batch = await rpc(`[
        {"jsonrpc": "2.0", "method": "spec.sum", "params": [1,2,4], "id": "1"},
        {"jsonrpc": "2.0", "method": "spec.notify_hello", "params": [7]},
        {"jsonrpc": "2.0", "method": "spec.subtract", "params": [42,23], "id": "2"},
        {"foo": "boo"},
        {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},
        {"jsonrpc": "2.0", "method": "spec.get_data", "id": "9"}
    ]`);
    expect(batch.status).toBe(200);
    expect(batch.body).toEqual([
      { jsonrpc: '2.0', result: 7, id: '1' },
      { jsonrpc: '2.0', result: 19, id: '2' },
      {
        jsonrpc: '2.0',
        error: { code: -32600, message: expect.stringMatching(/^Invalid Request/) },
        id: null,
      },
      {
        jsonrpc: '2.0',
        error: { code: -32601, message: expect.stringMatching(/^Method not found/) },
        id: '5',
      },
      { jsonrpc: '2.0', result: ['hello', 5], id: '9' },
    ]);

    const allNotifications = await rpc(`[
        {"jsonrpc": "2.0", "method": "spec.notify_sum", "params": [1,2,4]},
        {"jsonrpc": "2.0", "method": "spec.notify_hello", "params": [7]}
    ]`);
    expect(allNotifications.status).toBe(204);
    expect(allNotifications.text).toBe('');
    await eventually(() => notified.length === 4);
    expect(notified.sort()).toEqual(['hello 7', 'hello 7', 'sum 1,2,4', 'update 1,2,3,4,5']);
  });
});
