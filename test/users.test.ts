import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Events, type UserRegistered } from '../common/contracts/events.js';
import { type User, usersContract } from '../common/contracts/users.js';
import { dropSchema } from '../common/db/migrate.js';
import type { Pool } from '../common/db/pool.js';
import { AppError, ErrorCodes } from '../common/errors.js';
import type { RpcClient, ServiceClient } from '../common/rpc/client.js';
import { RegistrationThrottle } from '../services/users/registrations.js';
import { seedDemoUser } from '../services/users/seed.js';
import { usersService } from '../services/users/service.js';
import { signToken } from '../services/users/token.js';
import { eventually, testConfig, testPool } from './support/env.js';
import type { EventTap } from './support/event-tap.js';
import { ServiceHarness } from './support/service-harness.js';

const SECRET = 'users-test-secret-of-at-least-32-bytes';
const TTL_SECONDS = 3600;

describe('users service', () => {
  const config = testConfig({
    tokenSecret: SECRET,
    tokenTtlSeconds: TTL_SECONDS,
    registerPerAddressPerHour: 3,
    registerPerMinute: 1000,
  });
  /** Everything the service logs, to check that no password or token is ever written. */
  const logLines: string[] = [];
  const logger = pino(
    { level: 'debug' },
    new Writable({
      write(chunk, _enc, done) {
        logLines.push(String(chunk));
        done();
      },
    }),
  );
  let harness: ServiceHarness;
  let rpc: RpcClient;
  let users: ServiceClient<typeof usersContract>;
  let pool: Pool;
  let tap: EventTap;
  let seq = 0;
  const run = randomBytes(2).toString('hex');
  /** A fresh, valid username per test so tests share one service without colliding. */
  const freshName = (base = 'user') => `${base}_${++seq}_${run}`;
  const register = (username = freshName(), password = 'correct horse') =>
    users.call('register', { username, password });

  beforeAll(async () => {
    harness = await ServiceHarness.open(usersService, {
      config,
      logger,
      events: [Events.userRegistered.type],
    });
    ({ rpc, pool, tap } = harness);
    users = rpc.bind(usersContract);
  });

  afterAll(async () => {
    await harness?.close();
  });

  describe('register', () => {
    it('creates a user, stores only a salted scrypt hash and publishes user.registered', async () => {
      const name = freshName('Alice');
      const user = await register(name, 'correct horse');
      expect(user).toMatchObject({ username: name, displayName: name, bio: '' });
      expect(user.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(Date.parse(user.createdAt)).toBeGreaterThan(Date.now() - 60_000);

      const { rows } = await pool.query<{ password_hash: string }>(
        'SELECT password_hash FROM users WHERE id = $1',
        [user.id],
      );
      const stored = rows[0]!.password_hash;
      expect(stored).toMatch(/^scrypt\$16384\$8\$1\$[\w-]{22}\$[\w-]{86}$/);
      expect(stored).not.toContain('correct horse');

      const event = await tap.waitFor<UserRegistered>((e) => e.data.userId === user.id);
      expect(event).toMatchObject({
        type: Events.userRegistered.type,
        data: { userId: user.id, username: name },
      });
      // The relay marks the outbox row sent once the broker confirmed it.
      await eventually(async () => {
        const sent = await pool.query(
          'SELECT 1 FROM outbox WHERE event_id = $1 AND published_at IS NOT NULL',
          [event.id],
        );
        return sent.rowCount === 1;
      });
    });

    it('gives two users with the same password different hashes', async () => {
      const a = await register(freshName(), 'same password');
      const b = await register(freshName(), 'same password');
      const { rows } = await pool.query<{ password_hash: string }>(
        'SELECT password_hash FROM users WHERE id = ANY($1)',
        [[a.id, b.id]],
      );
      expect(rows).toHaveLength(2);
      expect(rows[0]!.password_hash).not.toBe(rows[1]!.password_hash);
    });

    it('refuses a taken username whatever its case, with ConflictError', async () => {
      const name = freshName('Bob');
      await register(name);
      await expect(register(name.toUpperCase())).rejects.toMatchObject({
        code: ErrorCodes.CONFLICT,
        message: expect.stringContaining('is taken'),
      });
      await expect(register(name.toLowerCase())).rejects.toMatchObject({ code: ErrorCodes.CONFLICT });
    });

    it('lets exactly one of several concurrent registrations of a name win', async () => {
      const name = freshName('race');
      const results = await Promise.allSettled(Array.from({ length: 6 }, () => register(name)));
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      for (const r of results) {
        if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: ErrorCodes.CONFLICT });
      }
      const { rows } = await pool.query('SELECT 1 FROM users WHERE lower(username) = lower($1)', [name]);
      expect(rows).toHaveLength(1);
      const outbox = await pool.query(`SELECT 1 FROM outbox WHERE envelope->'data'->>'username' = $1`, [
        name,
      ]);
      expect(outbox.rowCount).toBe(1);
    });

    it('throttles registrations per client address, each attempt counting, before any hashing', async () => {
      const from = `192.0.2.${++seq}-${run}`;
      for (let i = 0; i < 3; i++) {
        await users.call(
          'register',
          { username: freshName('reg'), password: 'a fine password' },
          { clientAddress: from },
        );
      }
      const refused = await users
        .call(
          'register',
          { username: freshName('reg'), password: 'a fine password' },
          { clientAddress: from },
        )
        .catch((e: AppError) => e);
      expect(refused).toMatchObject({
        code: ErrorCodes.RATE_LIMITED,
        message: expect.stringMatching(/^too many new accounts from this address; try again in \d+ s$/),
      });
      expect((refused as AppError).data).toMatchObject({ retryAfterSeconds: expect.any(Number) });
      // Another address is not affected.
      await expect(
        users.call(
          'register',
          { username: freshName('reg'), password: 'a fine password' },
          { clientAddress: `${from}x` },
        ),
      ).resolves.toMatchObject({ username: expect.stringContaining('reg_') });
    });

    it('throttles registrations of every address together, not counting ones refused per address', async () => {
      const throttle = new RegistrationThrottle(pool, { perAddressPerHour: 2, perMinute: 4 });
      const key = `${run}-${++seq}`;
      // Clear this minute's overall count, which the other tests share.
      await pool.query(`DELETE FROM registration_counts WHERE scope = 'all'`);
      await throttle.admit(`a-${key}`);
      await throttle.admit(`a-${key}`);
      await expect(throttle.admit(`a-${key}`)).rejects.toMatchObject({ code: ErrorCodes.RATE_LIMITED });
      await expect(throttle.admit(`a-${key}`)).rejects.toMatchObject({ code: ErrorCodes.RATE_LIMITED });
      await throttle.admit(`b-${key}`);
      await throttle.admit(undefined);
      await expect(throttle.admit(`c-${key}`)).rejects.toMatchObject({
        code: ErrorCodes.RATE_LIMITED,
        message: expect.stringContaining('too many new accounts are being made right now'),
      });
    });

    it.each([
      ['12345678', /one of the most common passwords/],
      ['Password1', /one of the most common passwords/],
      ['        ', /at least 8 characters besides spaces/],
      ['   abc   ', /at least 8 characters besides spaces/],
    ])('refuses the password %j with 400 naming the rule', async (password, message) => {
      await expect(register(freshName(), password)).rejects.toMatchObject({
        code: ErrorCodes.INVALID_INPUT,
        message: expect.stringMatching(message),
        data: { field: 'password' },
      });
    });

    it('refuses a password equal to the username, in any case, at registration and change', async () => {
      const name = freshName('Samename');
      await expect(register(name, name.toLowerCase())).rejects.toMatchObject({
        code: ErrorCodes.INVALID_INPUT,
        message: 'password must not be the username',
      });
      const user = await register(name, 'a fine password');
      const caller = { userId: user.id, username: user.username, admin: false };
      for (const newPassword of [name.toUpperCase(), 'qwertyuiop']) {
        await expect(
          users.call('changePassword', { oldPassword: 'a fine password', newPassword }, { caller }),
        ).rejects.toMatchObject({ code: ErrorCodes.INVALID_INPUT });
      }
    });

    it.each([
      [{ username: 'ab', password: 'long enough' }, /username: username must be at least 3/],
      [{ username: 'has space', password: 'long enough' }, /username: username may contain/],
      [{ username: 'x'.repeat(33), password: 'long enough' }, /username: username must be at most 32/],
      [{ username: 'fine_name', password: 'short' }, /password: password must be at least 8/],
      [{ username: 'fine_name', password: 'long enough', admin: true }, /admin/],
      [{ username: 'fine_name' }, /password/],
    ])('rejects bad params %j with -32602 naming the field', async (params, message) => {
      await expect(rpc.call('users', 'register', params)).rejects.toMatchObject({
        code: ErrorCodes.INVALID_PARAMS,
        message: expect.stringMatching(message),
      });
    });
  });

  describe('login and tokens', () => {
    it('logs in (username in any case) and returns a token that verifies', async () => {
      const user = await register(freshName('Carol'), 'carols password');
      const session = await users.call('login', {
        username: user.username.toUpperCase(),
        password: 'carols password',
      });
      expect(session.user).toEqual(user);
      const ttlMs = Date.parse(session.expiresAt) - Date.now();
      expect(ttlMs).toBeGreaterThan((TTL_SECONDS - 60) * 1000);
      expect(ttlMs).toBeLessThanOrEqual(TTL_SECONDS * 1000);
      await expect(users.call('verifyToken', { token: session.token })).resolves.toEqual({
        userId: user.id,
        username: user.username,
        sessionId: expect.any(String),
        expiresAt: session.expiresAt,
        admin: false,
      });
    });

    it('answers a wrong password and an unknown user with the same UnauthorizedError', async () => {
      const user = await register(freshName(), 'right password');
      const wrong = await users
        .call('login', { username: user.username, password: 'wrong password' })
        .catch((e: unknown) => e);
      const unknown = await users
        .call('login', { username: freshName('nobody'), password: 'right password' })
        .catch((e: unknown) => e);
      expect(wrong).toMatchObject({ code: ErrorCodes.UNAUTHORIZED });
      expect(unknown).toMatchObject({ code: ErrorCodes.UNAUTHORIZED });
      expect((wrong as Error).message).toBe((unknown as Error).message);
    });

    /** The session id a token names (its payload is readable; only the signature is secret). */
    const sessionOf = (token: string) =>
      (JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()) as { sid: string }).sid;

    it('rejects tampered, foreign, malformed, expired and non-canonical tokens', async () => {
      const user = await register(freshName(), 'token tests');
      const other = await register(freshName(), 'token tests');
      const { token } = await users.call('login', { username: user.username, password: 'token tests' });
      const [payload, signature] = token.split('.') as [string, string];
      const sessionId = sessionOf(token);

      // Claims rewritten to another user, signature kept.
      const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as { sub: string; exp: number };
      const forged = Buffer.from(JSON.stringify({ ...claims, sub: other.id })).toString('base64url');
      // Expiry pushed out, signature kept.
      const extended = Buffer.from(JSON.stringify({ ...claims, exp: claims.exp + 1e9 })).toString(
        'base64url',
      );
      const flipped = signature.startsWith('A') ? `B${signature.slice(1)}` : `A${signature.slice(1)}`;
      // The last character of a 32-byte signature carries two unused bits: this spelling
      // decodes to the very same bytes.
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
      const last = alphabet.indexOf(signature.at(-1)!);
      const sameBytes = `${signature.slice(0, -1)}${alphabet[last ^ 1]}`;
      expect(Buffer.from(sameBytes, 'base64url')).toEqual(Buffer.from(signature, 'base64url'));
      const soon = new Date(Date.now() + 60_000);
      const bad = [
        `${forged}.${signature}`,
        `${extended}.${signature}`,
        `${payload}.${flipped}`,
        `${payload}.${sameBytes}`,
        `${token}=`,
        `${token}%`,
        `${token}!`,
        ` ${token}`,
        `${payload}=.${signature}`,
        `${payload}.${signature.slice(0, -2)}`,
        `${payload}.${signature}.extra`,
        payload,
        'not-a-token',
        signToken({ sessionId, userId: user.id, expiresAt: soon }, 'some other secret that is long enough!'),
        // Correctly signed but expired a second ago.
        signToken({ sessionId, userId: user.id, expiresAt: new Date(Date.now() - 1000) }, SECRET),
        // Correctly signed, but for a session that was never opened.
        signToken({ sessionId: 'no-such-session', userId: user.id, expiresAt: soon }, SECRET),
        // Correctly signed, the user's real session, but claiming another user.
        signToken({ sessionId, userId: other.id, expiresAt: soon }, SECRET),
      ];
      for (const t of bad) {
        await expect(users.call('verifyToken', { token: t }), t).rejects.toMatchObject({
          code: ErrorCodes.UNAUTHORIZED,
        });
      }
      // The genuine token still works.
      await expect(users.call('verifyToken', { token })).resolves.toMatchObject({
        userId: user.id,
        sessionId,
      });
    });

    it('accepts a token until its expiry and not after', async () => {
      const user = await register(freshName(), 'expiry test');
      const login = await users.call('login', { username: user.username, password: 'expiry test' });
      const sessionId = sessionOf(login.token);
      const token = signToken({ sessionId, userId: user.id, expiresAt: new Date(Date.now() + 1500) }, SECRET);
      await expect(users.call('verifyToken', { token })).resolves.toMatchObject({ userId: user.id });
      await new Promise((r) => setTimeout(r, 1600));
      await expect(users.call('verifyToken', { token })).rejects.toMatchObject({
        code: ErrorCodes.UNAUTHORIZED,
      });
    });

    it('rejects the token of a user who no longer exists', async () => {
      const user = await register(freshName(), 'soon gone');
      const { token } = await users.call('login', { username: user.username, password: 'soon gone' });
      await pool.query('DELETE FROM users WHERE id = $1', [user.id]);
      await expect(users.call('verifyToken', { token })).rejects.toMatchObject({
        code: ErrorCodes.UNAUTHORIZED,
      });
    });

    it('accepts tokens of a previous secret during a rotation, and signs with the new one', async () => {
      const user = await register(freshName(), 'rotate me');
      const before = await users.call('login', { username: user.username, password: 'rotate me' });
      const rotated = await ServiceHarness.open(usersService, {
        config: testConfig({
          tokenSecret: 'the-next-secret-of-at-least-32-bytes',
          tokenSecretPrevious: SECRET,
        }),
        logger,
        schema: harness.schema,
      });
      try {
        const next = rotated.rpc.bind(usersContract);
        await expect(next.call('verifyToken', { token: before.token })).resolves.toMatchObject({
          userId: user.id,
        });
        const after = await next.call('login', { username: user.username, password: 'rotate me' });
        // Not signed with the old secret: the workers still on it refuse it.
        await expect(users.call('verifyToken', { token: after.token })).rejects.toMatchObject({
          code: ErrorCodes.UNAUTHORIZED,
        });
        await expect(next.call('verifyToken', { token: after.token })).resolves.toMatchObject({
          userId: user.id,
        });
      } finally {
        await rotated.close({ keepSchema: true });
      }
    });

    it('rejects bad login and token params with -32602', async () => {
      await expect(rpc.call('users', 'login', { username: 'x' })).rejects.toMatchObject({
        code: ErrorCodes.INVALID_PARAMS,
        message: expect.stringContaining('password'),
      });
      await expect(rpc.call('users', 'verifyToken', { token: '' })).rejects.toMatchObject({
        code: ErrorCodes.INVALID_PARAMS,
        message: expect.stringContaining('token'),
      });
    });
  });

  describe('sessions', () => {
    const login = (username: string, password: string) => users.call('login', { username, password });
    const callerOf = async (token: string) => users.call('verifyToken', { token });

    it('logout ends the session of the token, and only that one', async () => {
      const user = await register(freshName(), 'two devices');
      const phone = await login(user.username, 'two devices');
      const laptop = await login(user.username, 'two devices');
      const caller = await callerOf(phone.token);
      await expect(users.call('logout', {}, { caller })).resolves.toEqual({ revoked: 1 });
      await expect(callerOf(phone.token)).rejects.toMatchObject({ code: ErrorCodes.UNAUTHORIZED });
      await expect(callerOf(laptop.token)).resolves.toMatchObject({ userId: user.id });
      // Ending it again ends nothing.
      await expect(users.call('logout', {}, { caller })).resolves.toEqual({ revoked: 0 });
    });

    it("logout with all ends every session of the caller and no one else's", async () => {
      const user = await register(freshName(), 'everywhere');
      const other = await register(freshName(), 'bystander');
      const tokens = await Promise.all([1, 2, 3].map(() => login(user.username, 'everywhere')));
      const theirs = await login(other.username, 'bystander');
      const caller = await callerOf(tokens[0]!.token);
      await expect(users.call('logout', { all: true }, { caller })).resolves.toEqual({ revoked: 3 });
      for (const { token } of tokens) {
        await expect(callerOf(token)).rejects.toMatchObject({ code: ErrorCodes.UNAUTHORIZED });
      }
      await expect(callerOf(theirs.token)).resolves.toMatchObject({ userId: other.id });
    });

    it('logout needs a session unless it ends all of them', async () => {
      const user = await register(freshName(), 'api key user');
      const caller = { userId: user.id, username: user.username, admin: false };
      await expect(users.call('logout', {}, { caller })).rejects.toMatchObject({
        code: ErrorCodes.INVALID_INPUT,
      });
      await expect(users.call('logout', {})).rejects.toMatchObject({ code: ErrorCodes.UNAUTHORIZED });
    });

    it('a password change needs the old password and ends every other session', async () => {
      const user = await register(freshName(), 'old password');
      const here = await login(user.username, 'old password');
      const elsewhere = await login(user.username, 'old password');
      const caller = await callerOf(here.token);
      await expect(
        users.call('changePassword', { oldPassword: 'not it', newPassword: 'new password' }, { caller }),
      ).rejects.toMatchObject({ code: ErrorCodes.UNAUTHORIZED });
      await expect(
        users.call('changePassword', { oldPassword: 'old password', newPassword: 'short' }, { caller }),
      ).rejects.toMatchObject({ code: ErrorCodes.INVALID_PARAMS });
      await expect(
        users.call(
          'changePassword',
          { oldPassword: 'old password', newPassword: 'new password' },
          { caller },
        ),
      ).resolves.toEqual({ revokedSessions: 1 });
      await expect(callerOf(here.token)).resolves.toMatchObject({ userId: user.id });
      await expect(callerOf(elsewhere.token)).rejects.toMatchObject({ code: ErrorCodes.UNAUTHORIZED });
      await expect(login(user.username, 'old password')).rejects.toMatchObject({
        code: ErrorCodes.UNAUTHORIZED,
      });
      await expect(login(user.username, 'new password')).resolves.toMatchObject({ user: { id: user.id } });
      // Subsonic credentials follow the new password too.
      await expect(
        users.call('subsonicAuth', { username: user.username, password: 'new password' }),
      ).resolves.toMatchObject({ userId: user.id });
    });
  });

  describe('login throttling', () => {
    /** The error of a login attempt (or a fake one with code 0 when it succeeded). */
    const attempt = (username: string, password: string, clientAddress: string): Promise<AppError> =>
      users.call('login', { username, password }, { clientAddress }).then(
        () => new AppError(0, 'logged in'),
        (e: unknown) => e as AppError,
      );
    const fail = (username: string, clientAddress: string) =>
      attempt(username, 'wrong password', clientAddress);
    let n = 0;
    /** A client address no other test uses. */
    const address = () => `198.51.100.${++n}-${run}`;
    /** Lets every wait already running end, as time would. */
    const waitOut = () => pool.query('UPDATE login_failures SET blocked_until = now()');

    it('slows a guesser on (username, address) and never locks the real user out from elsewhere', async () => {
      const user = await register(freshName(), 'the real one');
      const guesser = address();
      for (let i = 0; i < 5; i++) {
        expect(await fail(user.username, guesser)).toMatchObject({ code: ErrorCodes.UNAUTHORIZED });
      }
      const limited = await attempt(user.username, 'the real one', guesser);
      expect(limited).toMatchObject({ code: ErrorCodes.RATE_LIMITED, data: { retryAfterSeconds: 1 } });
      expect(limited.message).toBe(
        'too many failed logins for this username from this address; try again in 1 s',
      );
      // Any case of the username is the same username.
      expect(await fail(user.username.toUpperCase(), guesser)).toMatchObject({
        code: ErrorCodes.RATE_LIMITED,
      });
      // The real user, from their own address, is not affected at all.
      await expect(
        users.call(
          'login',
          { username: user.username, password: 'the real one' },
          { clientAddress: address() },
        ),
      ).resolves.toMatchObject({ user: { id: user.id } });
    });

    it('doubles the wait with every further failure, and says the wait it means', async () => {
      const user = await register(freshName(), 'patience of saints');
      const guesser = address();
      const waits: number[] = [];
      for (let i = 0; i < 5; i++) await fail(user.username, guesser);
      for (let i = 0; i < 4; i++) {
        const limited = await fail(user.username, guesser);
        const seconds = (limited.data as { retryAfterSeconds: number }).retryAfterSeconds;
        expect(limited.message).toContain(`try again in ${seconds} s`);
        waits.push(seconds);
        await waitOut();
        // The attempt after a wait is checked, and fails again.
        expect(await fail(user.username, guesser)).toMatchObject({ code: ErrorCodes.UNAUTHORIZED });
      }
      expect(waits).toEqual([1, 2, 4, 8]);
    });

    it('slows one address guessing many usernames, not other addresses', async () => {
      const guesser = address();
      for (let i = 0; i < 20; i++) {
        expect(await fail(freshName('spray'), guesser)).toMatchObject({ code: ErrorCodes.UNAUTHORIZED });
      }
      const victim = await register(freshName(), 'not guessed');
      expect(await attempt(victim.username, 'not guessed', guesser)).toMatchObject({
        code: ErrorCodes.RATE_LIMITED,
        message: expect.stringContaining('from this address'),
      });
      await expect(
        users.call(
          'login',
          { username: victim.username, password: 'not guessed' },
          { clientAddress: address() },
        ),
      ).resolves.toBeTruthy();
    });

    it('lets the right password in from anywhere after 100 wrong guesses from 20 addresses', async () => {
      const user = await register(freshName(), 'popular target');
      const guessers = Array.from({ length: 20 }, () => address());
      for (const guesser of guessers) {
        for (let i = 0; i < 5; i++) {
          expect(await fail(user.username, guesser)).toMatchObject({ code: ErrorCodes.UNAUTHORIZED });
        }
      }
      // The real user, from a client that has not failed, gets in at once.
      await expect(
        users.call(
          'login',
          { username: user.username, password: 'popular target' },
          { clientAddress: address() },
        ),
      ).resolves.toMatchObject({ user: { id: user.id } });
      // Every guessing address now waits; the username's count makes each one wait longer.
      await waitOut();
      expect(await fail(user.username, guessers[0]!)).toMatchObject({ code: ErrorCodes.UNAUTHORIZED });
      expect(await fail(user.username, guessers[0]!)).toMatchObject({
        code: ErrorCodes.RATE_LIMITED,
        message: expect.stringContaining('for this username from addresses that failed for it'),
      });
      // A new address is checked, and its first failure puts it among the waiting ones.
      const fresh = address();
      expect(await fail(user.username, fresh)).toMatchObject({ code: ErrorCodes.UNAUTHORIZED });
      expect(await attempt(user.username, 'popular target', fresh)).toMatchObject({
        code: ErrorCodes.RATE_LIMITED,
      });
    });

    it('limits unknown usernames the same way', async () => {
      const name = freshName('ghost');
      const guesser = address();
      for (let i = 0; i < 5; i++) {
        expect(await fail(name, guesser)).toMatchObject({ code: ErrorCodes.UNAUTHORIZED });
      }
      expect(await fail(name, guesser)).toMatchObject({ code: ErrorCodes.RATE_LIMITED });
    });

    it('clears the (username, address) count after a successful login', async () => {
      const user = await register(freshName(), 'remembered');
      const from = address();
      for (let i = 0; i < 4; i++) await fail(user.username, from);
      await users.call('login', { username: user.username, password: 'remembered' }, { clientAddress: from });
      for (let i = 0; i < 5; i++) {
        expect(await fail(user.username, from)).toMatchObject({ code: ErrorCodes.UNAUTHORIZED });
      }
      expect(await fail(user.username, from)).toMatchObject({ code: ErrorCodes.RATE_LIMITED });
    });

    it('holds across workers and under concurrent guesses', async () => {
      await harness.startWorker();
      const user = await register(freshName(), 'guess me');
      const from = address();
      const results = await Promise.all(Array.from({ length: 12 }, () => fail(user.username, from)));
      const codes = results.map((r) => r.code);
      expect(codes.filter((c) => c === ErrorCodes.UNAUTHORIZED)).toHaveLength(5);
      expect(codes.filter((c) => c === ErrorCodes.RATE_LIMITED)).toHaveLength(7);
    });
  });

  describe('profiles', () => {
    let user: User;
    const as = () => ({ caller: { userId: user.id, username: user.username, admin: false } });

    beforeAll(async () => {
      user = await register(freshName('Dana'), 'danas password');
    });

    it('me returns the caller, and UnauthorizedError without one', async () => {
      await expect(users.call('me', {}, as())).resolves.toEqual({ ...user, admin: false, disabled: false });
      await expect(users.call('me', {})).rejects.toMatchObject({ code: ErrorCodes.UNAUTHORIZED });
      await expect(
        users.call('me', {}, { caller: { userId: 'gone', username: 'gone', admin: false } }),
      ).rejects.toMatchObject({ code: ErrorCodes.UNAUTHORIZED });
    });

    it('getProfile finds a user by id or by username in any case, for a logged-in caller', async () => {
      await expect(users.call('getProfile', { id: user.id }, as())).resolves.toEqual(user);
      await expect(
        users.call('getProfile', { username: user.username.toLowerCase() }, as()),
      ).resolves.toEqual(user);
      await expect(users.call('getProfile', { id: 'missing' }, as())).rejects.toMatchObject({
        code: ErrorCodes.NOT_FOUND,
      });
      await expect(users.call('getProfile', { username: 'missing_user' }, as())).rejects.toMatchObject({
        code: ErrorCodes.NOT_FOUND,
        message: expect.stringContaining('missing_user'),
      });
      await expect(
        rpc.call('users', 'getProfile', { id: user.id, username: user.username }, as()),
      ).rejects.toMatchObject({
        code: ErrorCodes.INVALID_PARAMS,
      });
    });

    it('getProfile tells nobody without a login which names exist: the same answer for all', async () => {
      const answers = await Promise.all(
        [user.username, 'made_up_name', user.id].map((who) =>
          users
            .call('getProfile', who === user.id ? { id: who } : { username: who })
            .catch((e: AppError) => ({ code: e.code, message: e.message })),
        ),
      );
      expect(new Set(answers.map((a) => JSON.stringify(a))).size).toBe(1);
      expect(answers[0]).toEqual({
        code: ErrorCodes.UNAUTHORIZED,
        message: 'users.getProfile needs a logged-in user',
      });
    });

    it('updateProfile changes only the given fields of the caller', async () => {
      const renamed = await users.call('updateProfile', { displayName: '  Dana D.  ' }, as());
      expect(renamed).toMatchObject({ id: user.id, displayName: 'Dana D.', bio: '' });
      const withBio = await users.call('updateProfile', { bio: 'Plays the oboe.' }, as());
      expect(withBio).toMatchObject({ displayName: 'Dana D.', bio: 'Plays the oboe.' });
      await expect(users.call('getProfile', { id: user.id }, as())).resolves.toEqual(withBio);
      await expect(users.call('updateProfile', { bio: 'x' })).rejects.toMatchObject({
        code: ErrorCodes.UNAUTHORIZED,
      });
      await expect(users.call('updateProfile', { displayName: '   ' }, as())).rejects.toMatchObject({
        code: ErrorCodes.INVALID_PARAMS,
        message: expect.stringContaining('displayName'),
      });
    });
  });

  describe('seedDemoUser', () => {
    it('creates demo/demo1234 once, in a schema not yet migrated', async () => {
      const seedSchema = `${harness.ns}_seed`;
      const seedPool = testPool(seedSchema);
      try {
        await seedDemoUser(seedPool, config);
        await seedDemoUser(seedPool, config);
        const { rows } = await seedPool.query<{ username: string }>('SELECT username FROM users');
        expect(rows).toEqual([{ username: 'demo' }]);
        const events = await seedPool.query('SELECT 1 FROM outbox WHERE type = $1', [
          Events.userRegistered.type,
        ]);
        expect(events.rowCount).toBe(1);
      } finally {
        await dropSchema(seedPool, seedSchema);
        await seedPool.end();
      }
    });

    it('makes an account that logs in through the service', async () => {
      await seedDemoUser(pool, config);
      const session = await users.call('login', { username: 'demo', password: 'demo1234' });
      expect(session.user.username).toBe('demo');
    });
  });

  it('never logs a password or a token', async () => {
    const secret = 'do-not-log-this-password';
    const user = await register(freshName(), secret);
    await users.call('login', { username: user.username, password: `${secret}!` }).catch(() => {});
    const { token } = await users.call('login', { username: user.username, password: secret });
    await users.call('verifyToken', { token });
    const text = logLines.join('');
    expect(text).toContain(user.username);
    expect(text).not.toContain(secret);
    expect(text).not.toContain(token);
  });
});
