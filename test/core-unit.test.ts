import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError, configSpec, DATABASE_OWNERS, databaseUrlFor, loadConfig } from '../common/config.js';
import { type LibraryAccessList, librariesSeenBy } from '../common/contracts/catalog.js';
import {
  AppError,
  ConflictError,
  describeIssues,
  ErrorCodes,
  type ErrorName,
  errorDocs,
  fromWireError,
  InternalError,
  isUnavailable,
  NotFoundError,
  RateLimitedError,
  TimeoutError,
  toWireError,
  UnavailableError,
} from '../common/errors.js';
import { SharedAnswers } from '../common/shared-answer.js';
import { SERVICE_NAMES } from '../scripts/services.js';

describe('error registry', () => {
  it('has unique codes, each documented', () => {
    const codes = Object.values(ErrorCodes);
    expect(new Set(codes).size).toBe(codes.length);
    for (const name of Object.keys(ErrorCodes) as ErrorName[]) {
      expect(errorDocs[name], name).toMatch(/\w{3,}/);
    }
  });

  it('keeps JSON-RPC protocol codes in the reserved range and domain codes outside it', () => {
    for (const [name, code] of Object.entries(ErrorCodes)) {
      const reserved = code >= -32768 && code <= -32000;
      expect(reserved, name).toBe(
        ['PARSE_ERROR', 'INVALID_REQUEST', 'METHOD_NOT_FOUND', 'INVALID_PARAMS', 'INTERNAL'].includes(name),
      );
    }
  });

  it('round-trips every error through its wire form as the same class', () => {
    const err = new ConflictError('taken', { field: 'username' });
    const back = fromWireError(JSON.parse(JSON.stringify(toWireError(err))));
    expect(back).toBeInstanceOf(ConflictError);
    expect(back.message).toBe('taken');
    expect(back.data).toEqual({ field: 'username' });
    expect(fromWireError({ code: ErrorCodes.NOT_FOUND, message: 'x' })).toBeInstanceOf(NotFoundError);
    const unknown = fromWireError({ code: 4242, message: 'odd' });
    expect(unknown).toBeInstanceOf(AppError);
    expect(unknown.code).toBe(4242);
  });

  it('never puts an unexpected error message or stack on the wire', () => {
    const wire = toWireError(new Error('password=hunter2 at /srv/secret.ts:10'));
    expect(wire).toEqual({ code: ErrorCodes.INTERNAL, message: 'Internal error' });
    expect(JSON.stringify(toWireError(new InternalError('boom')))).not.toContain('stack');
  });

  it('judges in one place which failures are worth asking again', () => {
    expect(isUnavailable(new UnavailableError('db down'))).toBe(true);
    expect(isUnavailable(fromWireError({ code: ErrorCodes.TIMEOUT, message: 't' }))).toBe(true);
    expect(isUnavailable(new TimeoutError('slow'))).toBe(true);
    expect(isUnavailable(new RateLimitedError('later'))).toBe(false);
    expect(isUnavailable(new NotFoundError('gone'))).toBe(false);
    expect(isUnavailable(new Error('plain'))).toBe(false);
  });

  it('describes schema issues by their path, naming the whole value when there is none', () => {
    const parsed = z
      .strictObject({ a: z.object({ b: z.number() }), c: z.string() })
      .safeParse({ a: { b: 'x' } });
    expect(parsed.success).toBe(false);
    expect(describeIssues(parsed.error!, 'params')).toMatch(/^a\.b: .+; c: .+$/);
    const whole = z.number().safeParse('x');
    expect(describeIssues(whole.error!, 'params')).toMatch(/^params: /);
    expect(describeIssues(whole.error!)).toMatch(/^value: /);
  });
});

describe('config', () => {
  it('uses documented defaults', () => {
    const config = loadConfig({});
    expect(config.prefetch).toBe(64);
    expect(config.port).toBe(8080);
    expect(Object.isFrozen(config)).toBe(true);
    for (const spec of Object.values(configSpec)) expect(spec.env).toMatch(/^[A-Z][A-Z0-9_]+$/);
  });

  it('reads the environment', () => {
    const config = loadConfig({ PREFETCH: '8', RPC_TIMEOUT_MS: '250', AMQP_NAMESPACE: 'ns_1' });
    expect(config).toMatchObject({ prefetch: 8, rpcTimeoutMs: 250, amqpNamespace: 'ns_1' });
  });

  it('gives each service its own database URL, DATABASE_URL unless set', () => {
    expect([...DATABASE_OWNERS].sort()).toEqual([...SERVICE_NAMES].sort());
    const main = 'postgres://u:p@db1:5432/music';
    const second = 'postgres://u:p@db2:5433/music';
    const config = loadConfig({
      DATABASE_URL: main,
      HISTORY_DATABASE_URL: second,
      STATS_DATABASE_URL: second,
    });
    expect(SERVICE_NAMES.map((s) => databaseUrlFor(config, s))).toEqual([
      main,
      main,
      main,
      second,
      second,
      main,
    ]);
    expect(databaseUrlFor(config, 'gateway')).toBe(main);
    expect(() => loadConfig({ STATS_DATABASE_URL: 'mysql://u:secret@x/db' })).toThrow(
      /^invalid configuration: STATS_DATABASE_URL is not a valid PostgreSQL URL/,
    );
    expect(() => loadConfig({ STATS_DATABASE_URL: 'mysql://u:secret@x/db' })).not.toThrow(/secret/);
  });

  it('names every bad variable', () => {
    expect(() => loadConfig({ PREFETCH: 'lots', PORT: '70000', LOG_LEVEL: 'loud' })).toThrow(ConfigError);
    try {
      loadConfig({ PREFETCH: 'lots', PORT: '70000', LOG_LEVEL: 'loud' });
    } catch (err) {
      expect((err as Error).message).toMatch(/PREFETCH="lots"/);
      expect((err as Error).message).toMatch(/PORT="70000"/);
      expect((err as Error).message).toMatch(/LOG_LEVEL="loud"/);
    }
  });
});

describe('SharedAnswers', () => {
  /** A computation whose answers are numbered, each resolved when the test says. */
  const computations = () => {
    const pending: Array<(n: number) => void> = [];
    let made = 0;
    return {
      compute: () => new Promise<number>((resolve) => pending.push(() => resolve(++made))),
      finish: () => pending.shift()!(0),
      get started() {
        return made + pending.length;
      },
    };
  };

  it('serves one answer to every caller, computed again in the background once half its age has passed', async () => {
    let now = 0;
    const answers = new SharedAnswers<string, number>(1000, () => now);
    const c = computations();
    // Callers with nothing kept share one computation.
    const first = [answers.get('day', c.compute), answers.get('day', c.compute)];
    expect(c.started).toBe(1);
    c.finish();
    expect(await Promise.all(first)).toEqual([1, 1]);
    now = 499;
    expect(await answers.get('day', c.compute)).toBe(1);
    expect(c.started).toBe(1);
    // Half its age: still served, and one new computation starts for the next callers.
    now = 500;
    expect(await answers.get('day', c.compute)).toBe(1);
    expect(await answers.get('day', c.compute)).toBe(1);
    expect(c.started).toBe(2);
    c.finish();
    await Promise.resolve();
    await Promise.resolve();
    expect(await answers.get('day', c.compute)).toBe(2);
    // Another key is another answer.
    const hour = answers.get('hour', c.compute);
    c.finish();
    expect(await hour).toBe(3);
  });

  it('never serves an answer older than its bound, nor keeps a failure', async () => {
    let now = 0;
    const answers = new SharedAnswers<string, number>(1000, () => now);
    expect(await answers.get('day', async () => 1)).toBe(1);
    now = 1000;
    await expect(answers.get('day', async () => Promise.reject(new Error('database down')))).rejects.toThrow(
      'database down',
    );
    expect(await answers.get('day', async () => 2)).toBe(2);
    // Age counts from when the computation was asked: one that took long is older when it comes.
    now = 5000;
    let resolve!: (n: number) => void;
    const slow = answers.get('day', () => new Promise<number>((r) => (resolve = r)));
    now = 5900;
    resolve(3);
    expect(await slow).toBe(3);
    now = 6000;
    expect(await answers.get('day', async () => 4)).toBe(4);
  });

  it('computes every answer when its bound is 0', async () => {
    const answers = new SharedAnswers<string, number>(0);
    let n = 0;
    expect(await answers.get('day', async () => ++n)).toBe(1);
    expect(await answers.get('day', async () => ++n)).toBe(2);
  });
});

describe('librariesSeenBy', () => {
  const library = (id: number, over: Partial<LibraryAccessList['libraries'][number]> = {}) => ({
    id,
    removed: false,
    everyone: false,
    ownerId: null,
    userIds: [],
    ...over,
  });
  const access: LibraryAccessList = {
    libraries: [
      library(1, { everyone: true }),
      library(2, { userIds: ['ann', 'ben'] }),
      library(3, { ownerId: 'cat' }),
      library(4, { removed: true, userIds: ['ann'] }),
    ],
  };

  it('shows libraries marked everyone to all, the others to their owner and the users granted them', () => {
    expect(librariesSeenBy('', access)).toEqual({ visible: [1], seen: [1] });
    expect(librariesSeenBy('dan', access)).toEqual({ visible: [1], seen: [1] });
    expect(librariesSeenBy('ben', access)).toEqual({ visible: [1, 2], seen: [1, 2] });
    expect(librariesSeenBy('cat', access)).toEqual({ visible: [1, 3], seen: [1, 3] });
    // A removed library is no longer seen, but what its tracks were is still shown to ann.
    expect(librariesSeenBy('ann', access)).toEqual({ visible: [1, 2], seen: [1, 2, 4] });
  });

  it('names a library once for a user who owns it and is granted it, in the order of the list', () => {
    const list = {
      libraries: [
        library(7, { ownerId: 'ann', userIds: ['ben', 'ann'] }),
        library(3, { everyone: true }),
        library(5, { userIds: ['ann'] }),
      ],
    };
    expect(librariesSeenBy('ann', list)).toEqual({ visible: null, seen: [7, 3, 5] });
    expect(librariesSeenBy('ben', list)).toEqual({ visible: [7, 3], seen: [7, 3] });
    // Asked again of the same list (its index is kept with it): the same answers.
    expect(librariesSeenBy('ann', list)).toEqual({ visible: null, seen: [7, 3, 5] });
    expect(librariesSeenBy('', list)).toEqual({ visible: [3], seen: [3] });
  });

  it('says null for a reader who sees every library there is', () => {
    const all = { libraries: [library(1, { everyone: true }), library(2, { userIds: ['ann'] })] };
    expect(librariesSeenBy('ann', all).visible).toBeNull();
    expect(librariesSeenBy('ben', all).visible).toEqual([1]);
  });
});
