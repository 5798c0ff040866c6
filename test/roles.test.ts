import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SYSTEM } from '../common/contracts/index.js';
import { usersContract } from '../common/contracts/users.js';
import { dropSchema, migrate } from '../common/db/migrate.js';
import type { Pool } from '../common/db/pool.js';
import { ErrorCodes } from '../common/errors.js';
import { RpcClient, type ServiceClient } from '../common/rpc/client.js';
import type { Caller } from '../common/rpc/contract.js';
import { type RunningService, startService } from '../common/service.js';
import { type RunningGateway, startGateway } from '../gateway/server.js';
import { catalogService } from '../services/catalog/index.js';
import { USERS_MIGRATIONS, usersService } from '../services/users/service.js';
import { countAdmins, createUser, grantAdmin } from '../services/users/store.js';
import { launchChromium } from './support/browser.js';
import {
  cleanupBroker,
  connectBroker,
  eventually,
  namespace,
  silentLogger,
  testConfig,
  testPool,
} from './support/env.js';
import type { Json } from './support/subsonic-client.js';

/** How long a gateway here trusts credentials it checked: the bound on a disabled account's token. */
const AUTH_TTL_MS = 1000;

const ns = namespace('roles');
const schema = `${ns}_users`;
const raceSchema = `${ns}_race`;
const config = testConfig({ tokenCacheTtlMs: AUTH_TTL_MS, rpcTimeoutMs: 5000 });
let worker: RunningService;
let catalog: RunningService;
let gateway: RunningGateway;
let rpc: RpcClient;
let users: ServiceClient<typeof usersContract>;
let pool: Pool;
let base: string;

interface Login {
  id: string;
  username: string;
  password: string;
  token: string;
}
let alice: Login;
let bob: Login;

async function http(method: string, path: string, token?: string, body?: unknown) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

async function rpcCall(method: string, params: unknown, token?: string) {
  const { body } = await http('POST', '/rpc', token, { jsonrpc: '2.0', id: 1, method, params });
  return body as { result?: unknown; error?: { code: number; message: string } };
}

async function subsonic(method: string, who: { username: string; password: string }, params = {}) {
  const query = new URLSearchParams({
    u: who.username,
    p: who.password,
    v: '1.16.1',
    c: 'roles-test',
    f: 'json',
    ...params,
  });
  const { body } = await http('GET', `/rest/${method}?${query}`);
  return body['subsonic-response'] as Json;
}

async function login(username: string, password: string): Promise<Login> {
  const { status, body } = await http('POST', '/api/sessions', undefined, { username, password });
  expect(status, JSON.stringify(body)).toBe(201);
  return { id: body.user.id, username, password, token: body.token };
}

async function registerAndLogin(username: string): Promise<Login> {
  const password = `${username}-pass-phrase`;
  const { status } = await http('POST', '/api/users', undefined, { username, password });
  expect(status).toBe(201);
  return login(username, password);
}

const as = (who: Login, admin: boolean): { caller: Caller } => ({
  caller: { userId: who.id, username: who.username, admin },
});

beforeAll(async () => {
  // An empty catalog, so the web player's home page has something to ask.
  catalog = await startService(catalogService, {
    system: SYSTEM,
    config,
    logger: silentLogger,
    namespace: ns,
    schema: `${ns}_catalog`,
  });
  worker = await startService(usersService, {
    system: SYSTEM,
    config,
    logger: silentLogger,
    namespace: ns,
    schema,
  });
  gateway = await startGateway({
    config: { ...config, port: 0 },
    logger: silentLogger,
    namespace: ns,
    drainMs: 200,
  });
  base = `http://127.0.0.1:${gateway.port}`;
  const broker = await connectBroker(ns, 'roles');
  rpc = new RpcClient({ broker, logger: silentLogger, timeoutMs: 5000 });
  await rpc.start();
  users = rpc.bind(usersContract);
  pool = testPool(schema);
  afterAll(async () => {
    await rpc.stop();
    await broker.close();
  });
  alice = await registerAndLogin(`alice_${ns}`.slice(0, 32));
  bob = await registerAndLogin(`bob_${ns}`.slice(0, 32));
}, 60_000);

afterAll(async () => {
  await gateway?.stop();
  await worker?.stop();
  await catalog?.stop();
  await pool?.end();
  const admin = testPool('public');
  await dropSchema(admin, schema);
  await dropSchema(admin, `${ns}_catalog`);
  await dropSchema(admin, raceSchema);
  await admin.end();
  await cleanupBroker(ns);
});

describe('who is an admin', () => {
  it('is the first account of a fresh install, and nobody registering after it', async () => {
    expect((await http('GET', '/api/me', alice.token)).body).toMatchObject({ admin: true, disabled: false });
    expect((await http('GET', '/api/me', bob.token)).body).toMatchObject({ admin: false });
    expect((await subsonic('getUser', alice)).user).toMatchObject({ adminRole: true, streamRole: true });
    expect((await subsonic('getUser', bob)).user).toMatchObject({ adminRole: false, streamRole: true });
  });

  it('is exactly one of many first registrations made at once', async () => {
    const race = testPool(raceSchema);
    try {
      await migrate(race, raceSchema, USERS_MIGRATIONS);
      const hash = async (p: string) => `not-a-real-hash-${p}`;
      for (let round = 0; round < 5; round++) {
        await race.query('DELETE FROM users');
        const made = await Promise.all(
          Array.from({ length: 8 }, (_, i) =>
            createUser(race, `first_${round}_${i}`, 'whatever-pass', undefined, hash),
          ),
        );
        expect(made.filter((u) => u?.admin).length, `round ${round}`).toBe(1);
        expect(await countAdmins(race)).toBe(1);
      }
      // `npm run admin -- <username>` names one more.
      expect(await grantAdmin(race, 'FIRST_4_0'.toLowerCase())).toMatchObject({ admin: true });
      expect(await grantAdmin(race, 'nobody')).toBeNull();
    } finally {
      await race.end();
    }
  });
});

describe('admin methods', () => {
  it('are refused to a user who is not an admin through /rpc, REST and Subsonic', async () => {
    expect((await rpcCall('users.listUsers', {}, bob.token)).error?.code).toBe(ErrorCodes.FORBIDDEN);
    expect((await rpcCall('users.listUsers', {})).error?.code).toBe(ErrorCodes.UNAUTHORIZED);
    expect((await rpcCall('users.deleteUser', { id: alice.id }, bob.token)).error?.code).toBe(
      ErrorCodes.FORBIDDEN,
    );
    expect((await http('GET', '/api/admin/users', bob.token)).status).toBe(403);
    expect((await http('GET', '/api/admin/users')).status).toBe(401);
    expect((await http('PATCH', `/api/admin/users/${bob.id}`, bob.token, { admin: true })).status).toBe(403);
    expect((await http('DELETE', `/api/admin/users/${alice.id}`, bob.token)).status).toBe(403);
    for (const [method, params] of [
      ['getUsers', {}],
      ['getUser', { username: alice.username }],
      ['createUser', { username: 'mallory_x', password: 'mallory-pass', email: 'm@example.org' }],
      ['updateUser', { username: alice.username, adminRole: 'false' }],
      ['deleteUser', { username: alice.username }],
      ['changePassword', { username: alice.username, password: 'taken-over-now' }],
    ] as const) {
      expect((await subsonic(method, bob, params)).error?.code, method).toBe(50);
    }
    // Nothing changed.
    expect((await http('GET', '/api/me', alice.token)).body).toMatchObject({ admin: true });
  });

  it('are refused by the users service itself to a caller who is not an admin, whatever the header says', async () => {
    await expect(users.call('listUsers', {}, as(bob, false))).rejects.toMatchObject({
      code: ErrorCodes.FORBIDDEN,
    });
    await expect(users.call('listUsers', {})).rejects.toMatchObject({ code: ErrorCodes.UNAUTHORIZED });
    // A caller said to be an admin who is not one in the database (demoted a moment ago).
    await expect(users.call('listUsers', {}, as(bob, true))).rejects.toMatchObject({
      code: ErrorCodes.FORBIDDEN,
    });
    await expect(users.call('updateUser', { id: bob.id, admin: true }, as(bob, true))).rejects.toMatchObject({
      code: ErrorCodes.FORBIDDEN,
    });
    await expect(users.call('listUsers', {}, as(alice, true))).resolves.toMatchObject({ total: 2 });
  });

  it('let an admin create, list, change, reset and delete accounts through REST, /rpc and Subsonic', async () => {
    const created = await http('POST', '/api/admin/users', alice.token, {
      username: 'carol_roles',
      password: 'carols first pass',
      displayName: 'Carol',
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      username: 'carol_roles',
      displayName: 'Carol',
      admin: false,
      disabled: false,
    });
    const carolId = created.body.id as string;
    const list = await http('GET', '/api/admin/users?limit=2', alice.token);
    expect(list.body).toMatchObject({ total: 3, limit: 2, offset: 0 });
    expect(list.body.items.map((u: { username: string }) => u.username)).toEqual([
      alice.username,
      bob.username,
    ]);
    expect((await http('GET', '/api/admin/users?query=CAROL', alice.token)).body.items).toHaveLength(1);
    expect((await http('GET', '/api/admin/users?limit=100000', alice.token)).status).toBe(400);
    expect((await rpcCall('users.getUser', { username: 'CAROL_ROLES' }, alice.token)).result).toMatchObject({
      id: carolId,
    });

    const carol = await login('carol_roles', 'carols first pass');
    const reset = await http('PATCH', `/api/admin/users/${carolId}`, alice.token, {
      password: 'carols second pass',
    });
    expect(reset.body).toMatchObject({ revokedSessions: 1 });
    expect((await http('GET', '/api/me', carol.token)).status).toBe(401);
    expect(
      (
        await http('POST', '/api/sessions', undefined, {
          username: 'carol_roles',
          password: 'carols first pass',
        })
      ).status,
    ).toBe(401);
    await login('carol_roles', 'carols second pass');

    // Subsonic: the admin sees everyone and changes a password; users are made and removed.
    const all = await subsonic('getUsers', alice);
    expect(all.users.user.map((u: { username: string }) => u.username)).toEqual([
      alice.username,
      bob.username,
      'carol_roles',
    ]);
    expect(
      (
        await subsonic('changePassword', alice, {
          username: 'carol_roles',
          password: `enc:${Buffer.from('carols third pass').toString('hex')}`,
        })
      ).status,
    ).toBe('ok');
    expect(
      (await subsonic('getUser', { username: 'carol_roles', password: 'carols third pass' })).user,
    ).toMatchObject({
      username: 'carol_roles',
      adminRole: false,
    });
    expect(
      (
        await subsonic('createUser', alice, {
          username: 'dave_roles',
          password: 'daves pass phrase',
          email: 'd@example.org',
          adminRole: 'true',
        })
      ).status,
    ).toBe('ok');
    expect((await subsonic('getUser', alice, { username: 'dave_roles' })).user).toMatchObject({
      adminRole: true,
    });
    expect((await subsonic('updateUser', alice, { username: 'dave_roles', adminRole: 'false' })).status).toBe(
      'ok',
    );
    expect(
      (await subsonic('getUser', { username: 'dave_roles', password: 'daves pass phrase' })).user,
    ).toMatchObject({
      adminRole: false,
    });
    expect((await subsonic('deleteUser', alice, { username: 'dave_roles' })).status).toBe('ok');
    expect((await subsonic('getUser', alice, { username: 'dave_roles' })).error?.code).toBe(70);

    // A user changes their own password through Subsonic, proving it with p=.
    expect(
      (
        await subsonic(
          'changePassword',
          { username: 'carol_roles', password: 'carols third pass' },
          { username: 'carol_roles', password: 'carols fourth pass' },
        )
      ).status,
    ).toBe('ok');
    await login('carol_roles', 'carols fourth pass');

    expect((await http('DELETE', `/api/admin/users/${carolId}`, alice.token)).body).toEqual({
      deleted: true,
    });
    expect((await http('GET', `/api/admin/users/${carolId}`, alice.token)).status).toBe(404);
  });

  it('disabling an account stops its token, API key and Subsonic credentials within the auth cache ttl', async () => {
    const erin = await registerAndLogin('erin_roles');
    const key = (await rpcCall('users.createApiKey', { name: 'player' }, erin.token)).result as {
      key: string;
    };
    expect((await http('GET', '/api/me', erin.token)).status).toBe(200);
    expect((await subsonic('ping', erin)).status).toBe('ok');
    // Through /rpc: the gateway is not told, so only the cache's ttl bounds it.
    const disabled = await rpcCall('users.updateUser', { id: erin.id, disabled: true }, alice.token);
    expect(disabled.result).toMatchObject({ disabled: true, revokedSessions: 1 });
    const since = Date.now();
    await eventually(
      async () => (await http('GET', '/api/me', erin.token)).status === 401,
      AUTH_TTL_MS + 2000,
    );
    await eventually(async () => (await subsonic('ping', erin)).error?.code === 40, AUTH_TTL_MS + 2000);
    expect(Date.now() - since).toBeLessThan(AUTH_TTL_MS + 2000);
    const byKey = await http('GET', `/rest/ping?apiKey=${key.key}&v=1.16.1&c=t&f=json`);
    expect(byKey.body['subsonic-response'].error?.code).toBe(44);
    const refused = await http('POST', '/api/sessions', undefined, {
      username: erin.username,
      password: erin.password,
    });
    expect(refused.status).toBe(401);
    expect(refused.body.error.message).toMatch(/disabled/);
    // Enabled again: a new login works, the old session stays ended.
    await rpcCall('users.updateUser', { id: erin.id, disabled: false }, alice.token);
    await login(erin.username, erin.password);
    expect((await http('GET', '/api/me', erin.token)).status).toBe(401);
  });

  it('keep an enabled admin: nobody demotes, disables or deletes themselves, nor the last admin', async () => {
    for (const change of [{ admin: false }, { disabled: true }]) {
      expect((await http('PATCH', `/api/admin/users/${alice.id}`, alice.token, change)).status).toBe(403);
    }
    expect((await http('DELETE', `/api/admin/users/${alice.id}`, alice.token)).status).toBe(403);
    // Two admins demoting each other at once: one of them stays.
    expect(
      (await http('PATCH', `/api/admin/users/${bob.id}`, alice.token, { admin: true })).body,
    ).toMatchObject({
      admin: true,
    });
    const [a, b] = await Promise.all([
      users.call('updateUser', { id: bob.id, admin: false }, as(alice, true)).then(
        () => 'ok',
        (e: { code: number }) => e.code,
      ),
      users.call('updateUser', { id: alice.id, admin: false }, as(bob, true)).then(
        () => 'ok',
        (e: { code: number }) => e.code,
      ),
    ]);
    expect([a, b].filter((r) => r === 'ok')).toHaveLength(1);
    expect(await countAdmins(pool)).toBe(1);
    // Whoever is left is the last admin: the other, no longer one, cannot remove them.
    const left = a === 'ok' ? alice : bob;
    const other = left === alice ? bob : alice;
    await expect(users.call('deleteUser', { id: left.id }, as(other, true))).rejects.toMatchObject({
      code: ErrorCodes.FORBIDDEN,
    });
    // Back to alice as the one admin for the rest of the file.
    if (left !== alice) {
      await users.call('updateUser', { id: alice.id, admin: true }, as(bob, true));
      await users.call('updateUser', { id: bob.id, admin: false }, as(alice, true));
    }
    expect(await countAdmins(pool)).toBe(1);
  });
});

describe('the terminal client for administrators', () => {
  const ROOT = fileURLToPath(new URL('..', import.meta.url));
  const client = async (home: string, ...args: string[]) => {
    try {
      const { stdout } = await promisify(execFile)(
        process.execPath,
        ['--import', 'tsx', 'client/main.ts', ...args],
        {
          cwd: ROOT,
          env: {
            ...process.env,
            GATEWAY_URL: base,
            MUSIC_CLIENT_HOME: home,
            MUSIC_PLAYER: 'none',
            NO_COLOR: '1',
          },
          timeout: 60_000,
        },
      );
      return { code: 0, out: stdout };
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      return { code: e.code ?? 1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
    }
  };

  it('lists, makes, disables and deletes accounts, and refuses a user who is not an admin', {
    timeout: 120_000,
  }, async () => {
    const homes = [
      await mkdtemp(join(tmpdir(), 'music-roles-a-')),
      await mkdtemp(join(tmpdir(), 'music-roles-b-')),
    ];
    const [adminHome, userHome] = homes as [string, string];
    try {
      expect((await client(adminHome, 'login', alice.username, alice.password)).code).toBe(0);
      expect(
        (await client(adminHome, 'user', 'add', 'gina_cli', 'ginas pass phrase', '--admin')).out,
      ).toMatch(/made gina_cli \(admin\)/);
      expect((await client(adminHome, 'user', 'disable', 'GINA_CLI')).out).toMatch(
        /gina_cli: admin, disabled/,
      );
      const listed = JSON.parse((await client(adminHome, 'users', '--query', 'gina', '--json')).out);
      expect(listed.items).toMatchObject([{ username: 'gina_cli', admin: true, disabled: true }]);
      expect((await client(adminHome, 'user', 'delete', 'gina_cli')).out).toMatch(/deleted gina_cli/);
      expect((await client(userHome, 'login', bob.username, bob.password)).code).toBe(0);
      const refused = await client(userHome, 'users');
      expect(refused.code).not.toBe(0);
      expect(refused.out).toMatch(/administrators only/);
    } finally {
      for (const home of homes) await rm(home, { recursive: true, force: true });
    }
  });
});

describe('the Users page of the web player (headless Chromium)', () => {
  const ROOT = fileURLToPath(new URL('..', import.meta.url));
  let browser: BrowserContext;
  let closeBrowser: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    await promisify(execFile)(join(ROOT, 'scripts', 'build.sh'), ['web'], { cwd: ROOT, timeout: 300_000 });
    const chromium = await launchChromium('roles');
    browser = chromium.context;
    closeBrowser = chromium.close;
  }, 360_000);

  afterAll(async () => {
    await closeBrowser?.();
  });

  it('lets an admin make, disable, reset and delete accounts, and is not offered to others', {
    timeout: 180_000,
  }, async () => {
    const page = browser.pages()[0] ?? (await browser.newPage());
    page.setDefaultTimeout(30_000);
    const logIn = async (who: { username: string; password: string }) => {
      await page.goto(`${base}/login`);
      await page.getByLabel('Username').fill(who.username);
      await page.getByLabel('Password').fill(who.password);
      await page.getByRole('button', { name: 'Log in' }).click();
      await page.getByRole('heading', { name: 'Home', level: 1 }).waitFor();
    };
    const nav = () => page.getByRole('navigation', { name: 'Main' });
    const row = (username: string) => page.locator(`tr[data-username="${username}"]`);

    await logIn(alice);
    await nav().getByRole('link', { name: 'Users', exact: true }).click();
    await page.getByRole('heading', { name: 'Users', level: 1 }).waitFor();
    await row(bob.username).waitFor();
    expect(await row(alice.username).getByRole('button', { name: 'Disable' }).count()).toBe(0);

    await page.getByLabel('Username').fill('frank_web');
    await page.getByLabel('Password', { exact: true }).fill('franks pass phrase');
    await page.getByRole('button', { name: 'Create account' }).click();
    await row('frank_web').waitFor();
    const frank = await login('frank_web', 'franks pass phrase');

    await row('frank_web').getByRole('button', { name: 'Disable' }).click();
    await row('frank_web').getByText('disabled', { exact: true }).waitFor();
    expect((await http('GET', '/api/me', frank.token)).status).toBe(401);

    await row(bob.username).getByRole('button', { name: 'Reset password' }).click();
    await row(bob.username).getByLabel(`New password for ${bob.username}`).fill('bobs new pass phrase');
    await row(bob.username).getByRole('button', { name: 'Set password' }).click();
    await row(bob.username).getByRole('button', { name: 'Reset password' }).waitFor();
    expect((await http('GET', '/api/me', bob.token)).status).toBe(401);
    bob = await login(bob.username, 'bobs new pass phrase');

    await row('frank_web').getByRole('button', { name: 'Delete' }).click();
    await row('frank_web').getByRole('button', { name: 'Confirm delete' }).click();
    await expect.poll(() => row('frank_web').count()).toBe(0);
    await page.screenshot({ path: join(ROOT, 'test-results', 'web', 'admin-users.png') }).catch(() => {});

    // Someone who is not an admin sees no link, and the page itself shows the refusal.
    await page.getByRole('button', { name: 'Log out' }).click();
    const me = page.waitForResponse((r) => new URL(r.url()).pathname === '/api/me');
    await logIn(bob);
    await me;
    await page.goto(`${base}/admin`);
    await page.getByText('administrators only').waitFor();
    expect(await nav().getByRole('link', { name: 'Users', exact: true }).count()).toBe(0);
  });
});
