import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { brokerPassword, brokerUserName, loadBrokerSecret } from '../../common/broker-users.js';
import { signToken } from '../../services/users/token.js';
import { testKinds } from '../support/broker-users.js';
import { eventually } from '../support/env.js';
import { ApiClient, DEMO_PASSWORD, type Reply, type RequestOptions } from '../support/system.js';
import { report, trackIds, useSystem } from './helpers.js';

/** Every password and token this file uses: none may appear in any log of the run. */
const secrets = new Set<string>([DEMO_PASSWORD]);

type ErrorBody = { error?: { code?: unknown; message?: unknown } };
type RpcReply = {
  jsonrpc?: unknown;
  id?: unknown;
  result?: unknown;
  error?: { code?: unknown; message?: unknown };
};

/** A JSON-RPC 2.0 response object as the spec shapes it. */
function wellFormed(r: unknown): boolean {
  if (typeof r !== 'object' || r === null || Array.isArray(r)) return false;
  const o = r as RpcReply;
  const idOk = o.id === null || typeof o.id === 'string' || typeof o.id === 'number';
  const hasResult = Object.hasOwn(o, 'result');
  const hasError = Object.hasOwn(o, 'error');
  const errorOk =
    !hasError || (Number.isInteger(o.error?.code) && typeof o.error?.message === 'string' && !hasResult);
  return o.jsonrpc === '2.0' && idOk && hasResult !== hasError && errorOk;
}

describe('bad input and security, against a whole system', () => {
  // Debug logging, so "no secret in any log" covers everything the processes can say.
  // The gateway believes X-Forwarded-For from loopback, so the test can play clients at
  // different addresses (the default, TRUST_PROXY=false, ignores the header: see gateway tests).
  const system = useSystem({ label: 'finput', logLevel: 'debug', gatewayEnv: { TRUST_PROXY: 'loopback' } });
  let api: ApiClient;
  let tracks: string[];

  beforeAll(async () => {
    api = new ApiClient(system().baseUrl);
    secrets.add(await api.login());
    // The processes' broker passwords, too.
    const brokerSecret = await loadBrokerSecret({ brokerSecretFile: system().brokerSecretFile });
    for (const kind of testKinds()) {
      secrets.add(brokerPassword(brokerSecret, brokerUserName(system().ns, kind.name)));
    }
    tracks = await trackIds(system());
  });

  /** The gateway process is still there and answering. */
  async function stillServing(): Promise<void> {
    expect(system().gateway.exit).toBeNull();
    expect((await api.request('GET', '/api/genres')).status).toBe(200);
  }

  it('answers malformed, oversized, mistyped and out-of-range REST input with a clear 4xx', async () => {
    const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
    const cases: Array<[label: string, method: string, path: string, opts: RequestOptions, status: number]> =
      [
        ['malformed JSON', 'POST', '/api/playlists', { raw: '{"name": ' }, 400],
        ['JSON null', 'POST', '/api/playlists', { raw: 'null' }, 400],
        ['not JSON at all', 'POST', '/api/playlists', { raw: 'name=x', contentType: 'text/plain' }, 400],
        ['body over 1 MiB', 'POST', '/api/playlists', { json: { name: 'x'.repeat(1_100_000) } }, 413],
        ['wrong type', 'POST', '/api/playlists', { json: { name: 123 } }, 400],
        ['unknown field', 'POST', '/api/playlists', { json: { name: 'x', isAdmin: true } }, 400],
        ['very long string', 'POST', '/api/playlists', { json: { name: 'x'.repeat(10_000) } }, 400],
        [
          'invalid UTF-8',
          'POST',
          '/api/playlists',
          { raw: Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]) },
          400,
        ],
        ['deeply nested JSON', 'POST', '/api/playlists', { raw: `{"name":${deep(100_000)}}` }, 400],
        [
          'array of track ids too long',
          'POST',
          '/api/playlists',
          { json: { name: 'x', trackIds: Array(1001).fill('t') } },
          400,
        ],
        ['NUL byte in a search', 'GET', '/api/search?q=a%00b', {}, 400],
        ['NUL byte in a name', 'POST', '/api/playlists', { json: { name: 'a\u0000b' } }, 400],
        [
          'NUL byte in a login',
          'POST',
          '/api/sessions',
          { json: { username: 'a\u0000b', password: 'x' } },
          400,
        ],
        ['play of a mistyped track', 'POST', '/api/plays', { json: { trackId: ['x'] } }, 400],
        [
          'play in the future',
          'POST',
          '/api/plays',
          { json: { trackId: 'x', playedAt: '2999-01-01T00:00:00Z' } },
          400,
        ],
        [
          'play in year 1',
          'POST',
          '/api/plays',
          { json: { trackId: 'x', playedAt: '0001-01-01T00:00:00Z' } },
          400,
        ],
        ['play of an unknown track', 'POST', '/api/plays', { json: { trackId: 'no-such-track' } }, 404],
        ['negative msPlayed', 'POST', '/api/plays', { json: { trackId: 'x', msPlayed: -1 } }, 400],
        ['negative limit', 'GET', '/api/artists?limit=-1', {}, 400],
        ['huge limit', 'GET', '/api/artists?limit=99999999999999999999', {}, 400],
        ['fractional limit', 'GET', '/api/tracks?limit=1.5', {}, 400],
        ['huge offset', 'GET', '/api/albums?offset=1000000000', {}, 400],
        ['limit given twice', 'GET', '/api/artists?limit=1&limit=2', {}, 400],
        ['unknown sort', 'GET', '/api/albums?sort=DROP', {}, 400],
        ['history limit 0', 'GET', '/api/me/history?limit=0', {}, 400],
        ['very long id', 'GET', `/api/tracks/${'x'.repeat(5000)}`, {}, 400],
        ['very long query', 'GET', `/api/search?q=${'x'.repeat(5000)}`, {}, 400],
        ['empty query', 'GET', '/api/search?q=', {}, 400],
        ['bad playlist position', 'DELETE', '/api/playlists/x/tracks/-1', {}, 400],
        [
          'unsatisfiable range',
          'GET',
          `/api/tracks/${'t'}/stream`,
          { headers: { range: 'bytes=999999999-' } },
          404,
        ],
        ['no such route', 'GET', '/api/nothing-here', {}, 404],
      ];
    const results: string[] = [];
    for (const [label, method, path, opts, status] of cases) {
      const r = await api.request<ErrorBody>(method, path, opts);
      results.push(`${label}: ${r.status}`);
      expect(r.status, `${label}: ${r.text.slice(0, 200)}`).toBe(status);
      expect(typeof r.body?.error?.code, label).toBe('number');
      expect(typeof r.body?.error?.message, label).toBe('string');
    }
    report('bad REST input', { cases: cases.length, answers: results.join('; ') });
    await stillServing();
  });

  it('answers malformed, huge, deep and wrong /rpc requests with JSON-RPC errors', async () => {
    const rpc = (raw: string | Uint8Array) => api.request<RpcReply | RpcReply[]>('POST', '/rpc', { raw });
    const call = (method: string, params?: unknown, id: unknown = 1) =>
      JSON.stringify({ jsonrpc: '2.0', id, method, params });
    const batch = (n: number) =>
      JSON.stringify(Array.from({ length: n }, (_, i) => JSON.parse(call('catalog.listGenres', {}, i))));
    const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
    const ids = (n: number) => Array.from({ length: n }, (_, i) => tracks[i % tracks.length]);
    const cases: Array<[label: string, body: string | Uint8Array, code: number, status?: number]> = [
      ['malformed JSON', '{"jsonrpc": "2.0", "method": ', -32700],
      ['invalid UTF-8', Buffer.from([0x5b, 0xff, 0x5d]), -32700],
      ['empty batch', '[]', -32600],
      ['batch of 21', batch(21), -32600, 413],
      ['batch of 100 000 numbers', JSON.stringify(Array(100_000).fill(1)), -32600, 413],
      ['deeply nested body', deep(100_000), -32600],
      [
        'deeply nested params',
        `{"jsonrpc":"2.0","id":1,"method":"catalog.search","params":{"q":${deep(5000)}}}`,
        -32600,
      ],
      ['not a request', '42', -32600],
      ['wrong version', JSON.stringify({ jsonrpc: '1.0', id: 1, method: 'catalog.listGenres' }), -32600],
      ['unknown method', call('catalog.dropEverything'), -32601],
      ['internal method', call('history.export', {}), -32601],
      ['internal token check', call('users.verifyToken', { token: 'x' }), -32601],
      ['internal Subsonic check', call('users.subsonicAuth', { apiKey: 'x' }), -32601],
      ['1000 ids in one call', call('catalog.getTracks', { ids: ids(1000) }), -32602],
      ['positional params', call('catalog.listArtists', [1, 2]), -32602],
      ['wrong param type', call('catalog.getTrack', { id: 42 }), -32602],
      ['unknown param', call('catalog.listGenres', { evil: 1 }), -32602],
      ['negative limit', call('catalog.listArtists', { limit: -1 }), -32602],
      ['huge offset', call('catalog.listArtists', { offset: 1e308 }), -32602],
      ['very long string', call('catalog.search', { q: 'x'.repeat(500_000) }), -32602],
      ['NUL byte', call('catalog.search', { q: 'a\u0000b' }), -32602],
    ];
    const results: string[] = [];
    for (const [label, body, code, status = 200] of cases) {
      const r = await rpc(body);
      const first = Array.isArray(r.body) ? r.body[0] : r.body;
      results.push(`${label}: ${r.status} ${String(first?.error?.code)}`);
      expect(r.status, `${label}: ${r.text.slice(0, 200)}`).toBe(status);
      expect(wellFormed(first), label).toBe(true);
      expect(first?.error?.code, `${label}: ${r.text.slice(0, 200)}`).toBe(code);
      // In our own words: nothing the database, the driver or the runtime said.
      expect(r.text, label).not.toMatch(/invalid byte sequence|0x00|SQLSTATE|at .*\.ts:\d+|ZodError/);
    }
    // Notifications the gateway will not run are dropped unanswered, as the specification says.
    for (const method of ['history.export', 'catalog.listGenres', 'catalog.dropEverything']) {
      const r = await rpc(JSON.stringify({ jsonrpc: '2.0', method }));
      results.push(`notification of ${method}: ${r.status}`);
      expect(r.status, method).toBe(204);
      expect(r.text, method).toBe('');
    }
    // A batch at the limit is fine.
    const ok = await rpc(batch(20));
    expect(ok.status).toBe(200);
    expect((ok.body as RpcReply[]).every((r) => wellFormed(r) && Object.hasOwn(r, 'result'))).toBe(true);
    // The attack that multiplied work: 100 calls of getTracks with 1000 ids each.
    const amplified = await rpc(
      JSON.stringify(
        Array.from({ length: 100 }, (_, i) => JSON.parse(call('catalog.getTracks', { ids: ids(1000) }, i))),
      ),
    );
    expect(amplified.status).toBe(413);
    expect(amplified.text.length).toBeLessThan(1000);
    report('bad /rpc input', { cases: cases.length, answers: results.join('; ') });
    await stillServing();
  });

  it('/rpc answers any JSON with a well-formed JSON-RPC response or 204, never 5xx or -32603 (property-based)', async () => {
    const methods = [
      'catalog.search',
      'catalog.getTrack',
      'catalog.listArtists',
      'users.login',
      'users.getProfile',
      'playlists.list',
      'playlists.get',
      'stats.topTracks',
      'history.recent',
      'nope.nothing',
    ];
    const request = fc.record(
      {
        jsonrpc: fc.oneof(fc.constant('2.0'), fc.jsonValue()),
        id: fc.oneof(fc.integer(), fc.string(), fc.constant(null), fc.jsonValue()),
        method: fc.oneof(fc.constantFrom(...methods), fc.string()),
        params: fc.oneof(
          fc.dictionary(fc.constantFrom('q', 'id', 'limit', 'offset', 'ownerId', 'x'), fc.jsonValue()),
          fc.jsonValue(),
        ),
      },
      { requiredKeys: [] },
    );
    const body = fc.oneof(fc.jsonValue(), request, fc.array(request, { maxLength: 5 }));
    const statuses = new Map<number, number>();
    const RUNS = 500;
    await fc.assert(
      fc.asyncProperty(body, fc.boolean(), async (value, loggedIn) => {
        const r = await api.request<unknown>('POST', '/rpc', {
          raw: JSON.stringify(value),
          token: loggedIn ? undefined : null,
        });
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        if (r.status === 204) return r.text === '';
        if (r.status !== 200) return false;
        const replies = Array.isArray(r.body) ? r.body : [r.body];
        // Well-formed, and no input is an internal error: bad input is always named as such.
        return (
          replies.length > 0 &&
          replies.every((reply) => wellFormed(reply) && (reply as RpcReply).error?.code !== -32603)
        );
      }),
      { numRuns: RUNS },
    );
    report('/rpc with random JSON', {
      runs: RUNS,
      statuses: [...statuses].map(([s, n]) => `${s} x${n}`).join(', '),
    });
    await stillServing();
  });

  describe('auth', () => {
    it('refuses every change without a valid token (401)', async () => {
      const s = system();
      const now = Date.now();
      const demoId = api.userId!;
      const sessionId = (
        JSON.parse(Buffer.from(api.token!.split('.')[0]!, 'base64url').toString()) as { sid: string }
      ).sid;
      const forged = {
        'no token': null,
        'expired token': signToken(
          { sessionId, userId: demoId, expiresAt: new Date(now - 1000) },
          s.tokenSecret,
        ),
        'tampered token': `${api.token!.slice(0, -2)}${api.token!.endsWith('AA') ? 'BB' : 'AA'}`,
        'token signed with another secret': signToken(
          { sessionId, userId: demoId, expiresAt: new Date(now + 3600_000) },
          'not-the-secret-but-a-long-one-all-the-same',
        ),
        'token of a user who does not exist': signToken(
          { sessionId, userId: randomUUID(), expiresAt: new Date(now + 3600_000) },
          s.tokenSecret,
        ),
        'token of a session never opened': signToken(
          { sessionId: 'never-opened', userId: demoId, expiresAt: new Date(now + 3600_000) },
          s.tokenSecret,
        ),
        'token with a character appended': `${api.token}=`,
        garbage: 'garbage',
      };
      for (const t of Object.values(forged)) if (t) secrets.add(t);
      const changes: Array<[string, string, unknown]> = [
        ['POST', '/api/plays', { trackId: tracks[0] }],
        ['POST', '/api/playlists', { name: 'mine' }],
        ['PATCH', '/api/playlists/p1', { name: 'x' }],
        ['DELETE', '/api/playlists/p1', undefined],
        ['POST', '/api/playlists/p1/tracks', { trackIds: [tracks[0]] }],
        ['POST', '/api/playlists/p1/tracks/move', { from: 0, to: 1 }],
        ['DELETE', '/api/playlists/p1/tracks/0', undefined],
        ['PATCH', '/api/me', { displayName: 'x' }],
        ['GET', '/api/me', undefined],
        ['GET', '/api/me/history', undefined],
      ];
      let refused = 0;
      for (const [label, token] of Object.entries(forged)) {
        for (const [method, path, json] of changes) {
          const r = await api.request<ErrorBody>(method, path, { token, json });
          expect(r.status, `${label} ${method} ${path}: ${r.text}`).toBe(401);
          refused++;
        }
      }
      for (const header of ['Basic ZGVtbzpkZW1vMTIzNA==', 'Bearer', `Bearer ${'x'.repeat(2000)}`]) {
        const r = await api.request('POST', '/api/playlists', {
          json: { name: 'x' },
          headers: { authorization: header },
          token: null,
        });
        expect(r.status, header).toBe(401);
        refused++;
      }
      // The same over /rpc: changes need a logged-in caller.
      const rpcChanges: Array<[string, unknown]> = [
        ['playlists.create', { name: 'x' }],
        ['playlists.rename', { id: 'p1', name: 'x' }],
        ['playlists.setPublic', { id: 'p1', public: true }],
        ['playlists.delete', { id: 'p1' }],
        ['playlists.addTracks', { id: 'p1', trackIds: [tracks[0]] }],
        ['playlists.removeTrack', { id: 'p1', position: 0 }],
        ['playlists.moveTrack', { id: 'p1', from: 0, to: 1 }],
        ['users.updateProfile', { displayName: 'x' }],
      ];
      for (const [method, params] of rpcChanges) {
        const r = await api.request<RpcReply>('POST', '/rpc', {
          json: { jsonrpc: '2.0', id: 1, method, params },
          token: null,
        });
        expect(r.body.error?.code, `${method}: ${r.text}`).toBe(1401);
        refused++;
      }
      const expired = await api.request<RpcReply>('POST', '/rpc', {
        json: { jsonrpc: '2.0', id: 1, method: 'playlists.list', params: {} },
        token: forged['expired token'],
      });
      expect(expired.status).toBe(401);
      report('changes without a valid token', {
        refused,
        'also over /rpc and with malformed headers': 'yes',
      });
    });

    it('keeps users out of each other’s playlists and history, on every route', async () => {
      const s = system();
      const suffix = randomUUID().slice(0, 8);
      const alice = new ApiClient(s.baseUrl);
      const bob = new ApiClient(s.baseUrl);
      const [alicePassword, bobPassword] = [`alice-${randomUUID()}`, `bob-${randomUUID()}`];
      secrets.add(alicePassword).add(bobPassword);
      secrets.add(await alice.register(`alice_${suffix}`, alicePassword));
      secrets.add(await bob.register(`bob_${suffix}`, bobPassword));
      type Playlist = { id: string; name: string; trackCount: number; public: boolean };
      const create = async (name: string, isPublic: boolean) => {
        const r = await alice.request<Playlist>('POST', '/api/playlists', {
          json: { name, public: isPublic, trackIds: tracks.slice(0, 3) },
        });
        expect(r.status, r.text).toBe(201);
        return r.body;
      };
      const secret = await create('alice private', false);
      const shared = await create('alice public', true);
      const attempts = (id: string): Array<[string, string, unknown]> => [
        ['PATCH', `/api/playlists/${id}`, { name: 'taken over' }],
        ['PATCH', `/api/playlists/${id}`, { public: true }],
        ['POST', `/api/playlists/${id}/tracks`, { trackIds: [tracks[5]] }],
        ['POST', `/api/playlists/${id}/tracks/move`, { from: 0, to: 2 }],
        ['DELETE', `/api/playlists/${id}/tracks/0`, undefined],
        ['DELETE', `/api/playlists/${id}`, undefined],
      ];
      // Someone else's private playlist answers exactly like a missing one.
      expect((await bob.request('GET', `/api/playlists/${secret.id}`)).status).toBe(404);
      const anonymous = await bob.request('GET', `/api/playlists/${secret.id}`, { token: null });
      const missing = await bob.request('GET', `/api/playlists/${randomUUID()}`, { token: null });
      expect(anonymous.status).not.toBe(200);
      expect(anonymous.status).toBe(missing.status);
      for (const [method, path, json] of attempts(secret.id)) {
        expect((await bob.request(method, path, { json })).status, `${method} ${path}`).toBe(404);
      }
      // A public one can be read, not changed.
      expect((await bob.request('GET', `/api/playlists/${shared.id}`)).status).toBe(200);
      for (const [method, path, json] of attempts(shared.id)) {
        expect((await bob.request(method, path, { json })).status, `${method} ${path}`).toBe(403);
      }
      const listed = await bob.request<Playlist[]>('GET', `/api/playlists?ownerId=${alice.userId}`);
      expect(listed.body.map((p) => p.id)).toEqual([shared.id]);
      // The same over /rpc.
      const rpc = (method: string, params: unknown) =>
        bob.request<RpcReply>('POST', '/rpc', { json: { jsonrpc: '2.0', id: 1, method, params } });
      expect((await rpc('playlists.get', { id: secret.id })).body.error?.code).toBe(1404);
      expect((await rpc('playlists.rename', { id: shared.id, name: 'x' })).body.error?.code).toBe(1403);
      expect((await rpc('playlists.delete', { id: shared.id })).body.error?.code).toBe(1403);
      // There is no parameter to name another user's history or statistics.
      expect((await rpc('history.recent', { userId: alice.userId })).body.error?.code).toBe(-32602);
      expect((await rpc('stats.user', { userId: alice.userId })).body.error?.code).toBe(-32602);
      // Public playlists need no login at all; private ones are not found for anyone else.
      const nobody = new ApiClient(s.baseUrl);
      expect((await nobody.request('GET', `/api/playlists/${shared.id}`)).status).toBe(200);
      const publicOnes = await nobody.request<Playlist[]>('GET', `/api/playlists?ownerId=${alice.userId}`);
      expect(publicOnes.body.map((p) => p.id)).toEqual([shared.id]);
      expect((await nobody.request('GET', `/api/playlists/${secret.id}`)).status).toBe(404);
      // And over the Subsonic API, with its own credentials.
      const rest = (endpoint: string, query: string) =>
        bob.request<{ 'subsonic-response': { status: string } }>(
          'GET',
          `/rest/${endpoint}.view?u=bob_${suffix}&p=${encodeURIComponent(bobPassword)}&v=1.16.1&c=faults&f=json&${query}`,
          { token: null },
        );
      for (const [endpoint, query] of [
        ['getPlaylist', `id=${secret.id}`],
        ['deletePlaylist', `id=${shared.id}`],
        ['deletePlaylist', `id=${secret.id}`],
        ['updatePlaylist', `playlistId=${shared.id}&name=taken`],
      ] as const) {
        const r = await rest(endpoint, query);
        expect(r.status, r.text).toBe(200);
        expect(r.body['subsonic-response'].status, `${endpoint} ${r.text}`).toBe('failed');
      }
      // Nothing of Alice's changed.
      for (const p of [secret, shared]) {
        const now = await alice.request<Playlist>('GET', `/api/playlists/${p.id}`);
        expect(now.status).toBe(200);
        expect({ name: now.body.name, trackCount: now.body.trackCount, public: now.body.public }).toEqual({
          name: p.name,
          trackCount: 3,
          public: p.public,
        });
      }
    });

    it('slows a password guesser down without ever locking the real user out (429, Retry-After = the wait)', async () => {
      const s = system();
      const name = `carol_${randomUUID().slice(0, 8)}`;
      const password = `carol-${randomUUID()}`;
      secrets.add(password);
      await new ApiClient(s.baseUrl).register(name, password);
      const from = (address: string) => ({ 'x-forwarded-for': address });
      const login = (pw: string, address: string) =>
        api.request<ErrorBody>('POST', '/api/sessions', {
          json: { username: name, password: pw },
          token: null,
          headers: from(address),
        });
      const statuses: number[] = [];
      const limited: Reply<ErrorBody>[] = [];
      for (let i = 0; i < 8; i++) {
        const wrong = `wrong-${randomUUID()}`;
        secrets.add(wrong);
        const r = await login(wrong, '203.0.113.66');
        statuses.push(r.status);
        if (r.status === 429) limited.push(r);
      }
      const fromGuesser = await login(password, '203.0.113.66');
      const fromOwner = await login(password, '198.51.100.20');
      const waits = limited.map((r) => r.headers.get('retry-after'));
      report('login throttling', {
        'wrong passwords from one address': statuses.join(' '),
        'Retry-After of the refused ones': waits.join(' '),
        'right password from that address': fromGuesser.status,
        'right password from the owner’s address': fromOwner.status,
      });
      expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
      expect(statuses.slice(5)).toEqual([429, 429, 429]);
      for (const r of limited) {
        const seconds = r.headers.get('retry-after');
        expect(seconds).toMatch(/^\d+$/);
        // The header says the very wait the message names.
        expect(r.body.error?.message).toBe(
          `too many failed logins for this username from this address; try again in ${seconds} s`,
        );
      }
      expect(fromGuesser.status).toBe(429);
      expect(fromOwner.status).toBe(201);
      // The same rules for Subsonic passwords: the guesser stays slowed, the owner gets in.
      const subsonic = (address: string) =>
        api.request<{ 'subsonic-response': { status: string; error?: { message: string } } }>(
          'GET',
          `/rest/ping.view?u=${name}&p=${encodeURIComponent(password)}&v=1.16.1&c=faults&f=json`,
          { token: null, headers: from(address) },
        );
      expect((await subsonic('203.0.113.66')).body['subsonic-response'].error?.message).toMatch(
        /too many failed/,
      );
      expect((await subsonic('198.51.100.20')).body['subsonic-response'].status).toBe('ok');
    });
  });

  describe('secrets and sessions', () => {
    /** The session id a token names: its payload is readable by anyone, only the signature is secret. */
    const sessionOf = (token: string) =>
      (JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()) as { sid: string }).sid;

    it('accepts no token signed with a documented secret, for any user id anyone can read', async () => {
      // The attack: know the demo user's id (profiles need a login now; any user can read it),
      // sign a year-long token.
      const profile = await api.request<RpcReply>('POST', '/rpc', {
        json: { jsonrpc: '2.0', id: 1, method: 'users.getProfile', params: { username: 'demo' } },
      });
      const demoId = (profile.body.result as { id: string }).id;
      const yearLong = new Date(Date.now() + 365 * 86_400_000);
      let refused = 0;
      for (const secret of ['change-me-in-production', 'change-me-in-production-change-me-in-production']) {
        for (const sessionId of [sessionOf(api.token!), 'forged-session']) {
          const forged = signToken({ sessionId, userId: demoId, expiresAt: yearLong }, secret);
          secrets.add(forged);
          const r = await api.request('GET', '/api/playlists', { token: forged });
          expect(r.status).toBe(401);
          const key = await api.request('POST', '/rpc', {
            token: forged,
            json: { jsonrpc: '2.0', id: 1, method: 'users.createApiKey', params: {} },
          });
          expect(key.status).toBe(401);
          refused += 2;
        }
      }
      report('tokens signed with a documented secret', { refused });
    });

    it('accepts a token only exactly as issued', async () => {
      const token = api.token!;
      const signature = token.split('.')[1]!;
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
      const sameBytes = `${token.slice(0, -1)}${alphabet[alphabet.indexOf(signature.at(-1)!) ^ 1]}`;
      const variants = [`${token}=`, `${token}%`, `${token}!`, `${token}==`, sameBytes];
      for (const variant of variants) {
        secrets.add(variant);
        expect((await api.request('GET', '/api/me', { token: variant })).status, variant).toBe(401);
      }
      expect((await api.request('GET', '/api/me')).status).toBe(200);
      report('token variants', { refused: variants.length, 'the issued token': 'accepted' });
    });

    it('ends a session at logout and every other session at a password change, within the cache bound', async () => {
      const s = system();
      const name = `dave_${randomUUID().slice(0, 8)}`;
      const [password, next] = [`dave-${randomUUID()}`, `dave-new-${randomUUID()}`];
      secrets.add(password).add(next);
      const laptop = new ApiClient(s.baseUrl);
      const phone = new ApiClient(s.baseUrl);
      const tablet = new ApiClient(s.baseUrl);
      secrets.add(await laptop.register(name, password));
      secrets.add(await phone.login(name, password));
      secrets.add(await tablet.login(name, password));
      for (const c of [laptop, phone, tablet]) expect((await c.request('GET', '/api/me')).status).toBe(200);

      const out = await phone.request('DELETE', '/api/sessions');
      expect(out.status, out.text).toBe(200);
      // The gateway that took the logout forgets the token at once.
      expect((await phone.request('GET', '/api/me')).status).toBe(401);

      const changed = await laptop.request<{ revokedSessions: number }>('PATCH', '/api/me/password', {
        json: { oldPassword: password, newPassword: next },
      });
      expect(changed.status, changed.text).toBe(200);
      expect(changed.body.revokedSessions).toBe(1);
      // Other gateways would trust a cached check for at most TOKEN_CACHE_TTL_MS (5 s).
      const since = Date.now();
      await eventually(async () => (await tablet.request('GET', '/api/me')).status === 401, 10_000, 100);
      const refusedAfter = Date.now() - since;
      expect((await laptop.request('GET', '/api/me')).status).toBe(200);
      expect(
        (
          await new ApiClient(s.baseUrl).request('POST', '/api/sessions', {
            json: { username: name, password },
          })
        ).status,
      ).toBe(401);
      report('sessions', {
        'logout, same gateway': 'refused at once',
        'other session after the password change refused within (ms)': refusedAfter,
      });
      expect(refusedAfter).toBeLessThan(6000);
    });

    it('stars only what exists, and dates plays within 30 days back and 5 minutes ahead', async () => {
      const rpc = (method: string, params: unknown) =>
        api.request<RpcReply>('POST', '/rpc', { json: { jsonrpc: '2.0', id: 1, method, params } });
      const star = await rpc('users.star', { songIds: ['no-such-song', tracks[0]] });
      expect(star.body.error?.code).toBe(1404);
      expect(star.body.error?.message).toContain('no-such-song');
      const starred = (await rpc('users.starred', {})).body.result as { songs: Array<{ id: string }> };
      expect(starred.songs.map((x) => x.id)).not.toContain(tracks[0]);

      const before = await system().db.query<{ n: string }>('SELECT count(*) AS n FROM history.plays');
      for (const playedAt of ['0001-01-01T00:00:00Z', new Date(Date.now() - 31 * 86_400_000).toISOString()]) {
        const r = await api.request<ErrorBody>('POST', '/api/plays', {
          json: { trackId: tracks[0], playedAt },
        });
        expect(r.status, r.text).toBe(400);
        expect(r.body.error?.message).toBe(
          'invalid body: playedAt must not be more than 30 days in the past',
        );
      }
      const batch = await api.request<ErrorBody>('POST', '/api/plays/batch', {
        json: { plays: [{ trackId: tracks[0] }, { trackId: tracks[0], playedAt: '0001-01-01T00:00:00Z' }] },
      });
      expect(batch.status).toBe(400);
      expect(batch.body.error?.message).toContain('plays.1.playedAt');
      const recent = new Date(Date.now() - 29 * 86_400_000).toISOString();
      expect(
        (await api.request('POST', '/api/plays', { json: { trackId: tracks[0], playedAt: recent } })).status,
      ).toBe(202);
      await eventually(async () => {
        const after = await system().db.query<{ n: string }>('SELECT count(*) AS n FROM history.plays');
        return Number(after.rows[0]!.n) === Number(before.rows[0]!.n) + 1;
      }, 15_000);
    });
  });

  it('treats quotes, %, _ and backslashes in searches and names as text (parameterised SQL)', async () => {
    const found = async (q: string) => {
      const r = await api.request<{
        tracks: Array<{ title: string }>;
        artists: unknown[];
        albums: unknown[];
      }>('GET', `/api/search?q=${encodeURIComponent(q)}`);
      expect(r.status, `${q}: ${r.text}`).toBe(200);
      return r.body;
    };
    for (const q of ["o'brien", '"quoted"', '\\', "'; DROP TABLE tracks; --", "' OR '1'='1", '%%', 'a_b']) {
      await found(q);
    }
    // % and _ match themselves, not anything: every track found has a literal % in its title.
    const percent = await found('%');
    expect(percent.tracks.length).toBeGreaterThan(0);
    expect(percent.tracks.every((t) => t.title.includes('%'))).toBe(true);
    const underscore = await found('_');
    expect(underscore.tracks.every((t) => t.title.includes('_'))).toBe(true);
    // A name full of SQL comes back exactly as given, and the catalog is intact.
    const name = "Robert'); DROP TABLE playlists; -- 100% \\ _";
    const created = await api.request<{ id: string; name: string }>('POST', '/api/playlists', {
      json: { name },
    });
    expect(created.status, created.text).toBe(201);
    expect((await api.request<{ name: string }>('GET', `/api/playlists/${created.body.id}`)).body.name).toBe(
      name,
    );
    expect((await api.request<{ total: number }>('GET', '/api/tracks?limit=1')).body.total).toBe(
      tracks.length,
    );
  });

  it('writes no password or token to any log of the run', async () => {
    const s = system();
    // Subsonic credentials travel in the query string: the password in clear and hex-encoded.
    const hex = `enc:${Buffer.from(DEMO_PASSWORD).toString('hex')}`;
    secrets.add(hex.slice(4));
    for (const p of [DEMO_PASSWORD, hex]) {
      const r = await api.request('GET', `/rest/ping.view?u=demo&p=${p}&v=1.16.1&c=faults&f=json`, {
        token: null,
      });
      expect(r.status).toBe(200);
    }
    await new Promise((r) => setTimeout(r, 500));
    const logs = await s.logs();
    const lines = [...logs.values()].reduce((n, text) => n + text.split('\n').length, 0);
    const leaks: string[] = [];
    for (const [label, text] of logs) {
      for (const secret of secrets)
        if (text.includes(secret)) leaks.push(`${label}: ${secret.slice(0, 12)}...`);
    }
    report('secrets in logs', {
      'log files': logs.size,
      'log lines (debug level)': lines,
      'secrets checked': secrets.size,
      leaks: leaks.length,
    });
    expect(lines).toBeGreaterThan(100);
    expect(leaks).toEqual([]);
  });
});
