import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import type { UsersContract } from '../common/contracts/users.js';
import {
  AppError,
  ErrorCodes,
  type ErrorName,
  errorDocs,
  NotFoundError,
  RateLimitedError,
  TimeoutError,
  UnauthorizedError,
  UnavailableError,
} from '../common/errors.js';
import { LruCache } from '../common/lru.js';
import type { ServiceClient } from '../common/rpc/client.js';
import { Authenticator, bearerToken } from '../gateway/auth.js';
import { HTTP_STATUS, HttpError, httpStatus, RETRY_AFTER_SECONDS, toHttpError } from '../gateway/errors.js';

const names = Object.keys(ErrorCodes) as ErrorName[];

describe('gateway error map', () => {
  it('has one code per error, each with its own meaning written down', () => {
    const codes = Object.values(ErrorCodes);
    expect(new Set(codes).size).toBe(codes.length);
    for (const name of names) {
      expect(errorDocs[name].length, name).toBeGreaterThan(10);
      expect(httpStatus(ErrorCodes[name]), name).toBe(HTTP_STATUS[name]);
    }
  });

  it('is the table gateway/README.md documents: every code with its status, and nothing else', async () => {
    const readme = await readFile(new URL('../gateway/README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('## Errors'), readme.indexOf('## JSON-RPC at'));
    const documented = new Map<number, number>();
    for (const row of section.split('\n').filter((l) => /^\| `-?\d+`/.test(l))) {
      const [codes, status] = row.split('|').slice(1, 3) as [string, string];
      for (const m of codes.matchAll(/`(-?\d+)`/g))
        documented.set(Number(m[1]), Number(/\d{3}/.exec(status)![0]));
    }
    const registry = new Map(names.map((name) => [ErrorCodes[name] as number, HTTP_STATUS[name]]));
    expect(Object.fromEntries(documented)).toEqual(Object.fromEntries(registry));
  });

  it('adds Retry-After to unavailable, timeout and rate-limited answers, with the wait an error names', () => {
    expect(toHttpError(new UnavailableError('down')).retryAfter).toBe(RETRY_AFTER_SECONDS);
    expect(toHttpError(new RateLimitedError('wait 8 s', { retryAfterSeconds: 8 }))).toMatchObject({
      status: 429,
      retryAfter: 8,
    });
    expect(toHttpError(new TimeoutError('slow'))).toMatchObject({
      status: 503,
      retryAfter: RETRY_AFTER_SECONDS,
      body: { error: { code: ErrorCodes.TIMEOUT, message: 'slow' } },
    });
    expect(toHttpError(new NotFoundError('gone'))).toEqual({
      status: 404,
      retryAfter: undefined,
      body: { error: { code: ErrorCodes.NOT_FOUND, message: 'gone' } },
    });
  });

  it('hides unknown and internal errors behind a generic 500', () => {
    const leaky = new Error('password=hunter2 at /srv/secret.ts:12');
    expect(toHttpError(leaky)).toEqual({
      status: 500,
      retryAfter: undefined,
      body: { error: { code: ErrorCodes.INTERNAL, message: 'Internal error' } },
    });
    expect(toHttpError(new AppError(ErrorCodes.INTERNAL, 'db said: relation x')).body.error.message).toBe(
      'Internal error',
    );
    expect(toHttpError(new AppError(99_999, 'unknown code')).status).toBe(500);
  });

  it('lets gateway errors choose their own status and maps body-parser failures', () => {
    expect(toHttpError(new HttpError(416, ErrorCodes.INVALID_REQUEST, 'bad range')).status).toBe(416);
    const tooLarge = Object.assign(new Error('too big'), { type: 'entity.too.large', status: 413 });
    expect(toHttpError(tooLarge)).toMatchObject({ status: 413, body: { error: { code: -32600 } } });
    const badJson = Object.assign(new Error('Unexpected token'), {
      type: 'entity.parse.failed',
      status: 400,
    });
    expect(toHttpError(badJson)).toMatchObject({ status: 400, body: { error: { code: -32700 } } });
  });
});

describe('bearer tokens', () => {
  it('reads "Bearer <token>" and rejects other schemes', () => {
    expect(bearerToken(undefined)).toBeUndefined();
    expect(bearerToken('Bearer abc.def-1')).toBe('abc.def-1');
    expect(bearerToken('bearer xyz')).toBe('xyz');
    expect(() => bearerToken('Basic dXNlcjpwYXNz')).toThrow(/Bearer/);
    expect(() => bearerToken('Bearer ')).toThrow();
    expect(() => bearerToken(`Bearer ${'a'.repeat(1001)}`)).toThrow();
  });
});

describe('LruCache', () => {
  it('expires entries after the ttl or their own deadline, whichever is first', () => {
    let now = 1000;
    const cache = new LruCache<string, number>(10, 100, () => now);
    cache.set('a', 1);
    cache.set('b', 2, now + 10);
    now += 50;
    expect(cache.get('a')).toBe(1);
    expect(cache.get('b')).toBeUndefined();
    now += 60;
    expect(cache.get('a')).toBeUndefined();
    cache.set('c', 3, now - 1);
    expect(cache.get('c')).toBeUndefined();
  });

  it('evicts the least recently used entry when full', () => {
    const cache = new LruCache<string, number>(2, 60_000);
    cache.set('a', 1);
    cache.set('b', 2);
    expect(cache.get('a')).toBe(1); // a is now the most recent
    cache.set('c', 3);
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')).toBe(1);
    expect(cache.get('c')).toBe(3);
    expect(cache.size).toBe(2);
  });
});

describe('LruCache.getOrLoadMany', () => {
  it('loads the uncached keys in one call, shares loads in flight, and leaves out unknown keys', async () => {
    const cache = new LruCache<string, number>(10, 60_000);
    cache.set('a', 1);
    const calls: string[][] = [];
    const loadMany = async (keys: string[]) => {
      calls.push([...keys]);
      await new Promise((r) => setTimeout(r, 10));
      return new Map(keys.filter((k) => k !== 'x').map((k) => [k, k.length * 10]));
    };
    const [first, second] = await Promise.all([
      cache.getOrLoadMany(['a', 'bb', 'ccc', 'x', 'bb'], loadMany),
      cache.getOrLoadMany(['ccc', 'x'], loadMany),
    ]);
    expect(calls).toEqual([['bb', 'ccc', 'x']]);
    expect(first).toEqual(
      new Map([
        ['a', 1],
        ['bb', 20],
        ['ccc', 30],
      ]),
    );
    expect(second).toEqual(new Map([['ccc', 30]]));
    // Found values are cached; the unknown key is asked again next time.
    expect(await cache.getOrLoadMany(['bb', 'x'], loadMany)).toEqual(new Map([['bb', 20]]));
    expect(calls).toEqual([['bb', 'ccc', 'x'], ['x']]);
  });

  it('rejects when the load fails, and caches nothing', async () => {
    const cache = new LruCache<string, number>(10, 60_000);
    await expect(cache.getOrLoadMany(['a'], async () => Promise.reject(new Error('down')))).rejects.toThrow(
      'down',
    );
    expect(cache.size).toBe(0);
  });
});

describe('LruCache.getOrLoad', () => {
  it('shares one load between concurrent misses, caches the value and never a failure', async () => {
    const cache = new LruCache<string, string>(10, 60_000);
    let loads = 0;
    const load = async () => {
      loads++;
      await new Promise((r) => setTimeout(r, 10));
      return { value: `v${loads}` };
    };
    expect(await Promise.all([cache.getOrLoad('k', load), cache.getOrLoad('k', load)])).toEqual(['v1', 'v1']);
    expect(await cache.getOrLoad('k', load)).toBe('v1');
    expect(loads).toBe(1);

    const failing = async (): Promise<{ value: string }> => {
      loads++;
      throw new Error('down');
    };
    await expect(cache.getOrLoad('bad', failing)).rejects.toThrow('down');
    await expect(cache.getOrLoad('bad', load)).resolves.toBe('v3');
  });

  it('does not cache a value whose deadline has passed', async () => {
    const cache = new LruCache<string, number>(10, 60_000);
    await cache.getOrLoad('k', async () => ({ value: 1, expiresAt: Date.now() - 1 }));
    expect(cache.get('k')).toBeUndefined();
  });
});

describe('the authenticator after a definitive refusal', () => {
  /** A users service that answers verifyToken as `answer` says, counting its calls. */
  function usersAnswering(answer: { current: 'ok' | 'refused' | 'down' }) {
    const calls = { n: 0 };
    const users = {
      call: async () => {
        calls.n++;
        if (answer.current === 'refused') throw new UnauthorizedError('invalid or expired session token');
        if (answer.current === 'down') throw new UnavailableError('the users service is away');
        return {
          userId: 'u1',
          username: 'ann',
          sessionId: 's1',
          expiresAt: new Date(Date.now() + 3600_000).toISOString(),
        };
      },
    } as unknown as ServiceClient<UsersContract>;
    return { users, calls };
  }

  it('never trusts a refused token again, not even while the users service is away', async () => {
    const answer = { current: 'ok' as 'ok' | 'refused' | 'down' };
    const { users } = usersAnswering(answer);
    const auth = new Authenticator(users, { ttlMs: 0 });
    await expect(auth.bearer('t1')).resolves.toMatchObject({ userId: 'u1' });
    // While the service is away, a token it accepted lately still works...
    answer.current = 'down';
    await expect(auth.bearer('t1')).resolves.toMatchObject({ userId: 'u1' });
    // ...until the service refuses it (logout all elsewhere, a password change).
    answer.current = 'refused';
    await expect(auth.bearer('t1')).rejects.toMatchObject({ code: ErrorCodes.UNAUTHORIZED });
    answer.current = 'down';
    await expect(auth.bearer('t1')).rejects.toMatchObject({ code: ErrorCodes.UNAVAILABLE });
  });

  it("forgets every token of a user at that user's logout of every session", async () => {
    const answer = { current: 'ok' as 'ok' | 'refused' | 'down' };
    const { users, calls } = usersAnswering(answer);
    const auth = new Authenticator(users, { ttlMs: 60_000 });
    await auth.bearer('phone');
    await auth.bearer('laptop');
    expect(calls.n).toBe(2);
    await auth.bearer('laptop');
    expect(calls.n).toBe(2);
    auth.forgetUser('u1');
    answer.current = 'refused';
    await expect(auth.bearer('phone')).rejects.toMatchObject({ code: ErrorCodes.UNAUTHORIZED });
    await expect(auth.bearer('laptop')).rejects.toMatchObject({ code: ErrorCodes.UNAUTHORIZED });
  });
});
