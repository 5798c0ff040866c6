/**
 * The broker is not a back door: each kind of process connects as a broker user of its own,
 * limited to the queues and exchanges it uses, and services take a caller's identity only from
 * requests the broker says the gateway's user sent. The whole system runs here in process, in
 * its own namespace, with broker users made for the namespace and deleted at the end.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Broker } from '../common/amqp/broker.js';
import {
  brokerPassword,
  brokerUrlFor,
  brokerUserName,
  permissionsOf,
  systemKinds,
  trustedCallers,
} from '../common/broker-users.js';
import type { Config } from '../common/config.js';
import { SYSTEM } from '../common/contracts/index.js';
import { dropSchema } from '../common/db/migrate.js';
import { ErrorCodes } from '../common/errors.js';
import { logBounds } from '../common/events/log.js';
import { RpcClient } from '../common/rpc/client.js';
import { callerHeaders, readCallerHeaders } from '../common/rpc/wire.js';
import type { RunningService } from '../common/service.js';
import { type RunningGateway, startGateway } from '../gateway/server.js';
import { SERVICE_NAMES } from '../scripts/services.js';
import { LOG_READERS, makeBrokerUsers } from './support/broker-users.js';
import {
  AMQP_URL,
  cleanupBroker,
  managementGet,
  namespace,
  rabbitmqctl,
  silentLogger,
  testConfig,
  testPool,
} from './support/env.js';
import { startAllServices } from './support/services.js';

// biome-ignore lint/suspicious/noExplicitAny: JSON answers, read field by field
type Json = any;

describe('the permissions of each kind of process, from the system declaration', () => {
  const kinds = systemKinds(SYSTEM, LOG_READERS);
  const perms = (name: string, ns = '') => permissionsOf(kinds.find((k) => k.name === name)!, SYSTEM, ns);
  const matches = (regex: string, name: string) => regex !== '' && new RegExp(regex).test(name);

  it('a service reads its own request queue and its own consumer group only', () => {
    for (const service of SERVICE_NAMES) {
      const { read, configure } = perms(service);
      for (const other of SERVICE_NAMES) {
        expect(matches(read, `rpc.${other}`), `${service} reads rpc.${other}`).toBe(other === service);
        expect(matches(configure, `rpc.${other}`), `${service} declares rpc.${other}`).toBe(
          other === service,
        );
      }
      for (const q of SYSTEM.eventQueues) {
        const main = `${q.group}.${q.event.replace(/\./g, '-')}`;
        expect(matches(read, main), `${service} reads ${main}`).toBe(q.group === service);
        expect(matches(read, `${main}.retry.200ms`)).toBe(q.group === service);
        expect(matches(read, `${main}.dead`)).toBe(false);
      }
    }
  });

  it('the gateway reads no queue; only readers of the log read it; nobody may read amq.default', () => {
    // Stats' projections, the scrobbler, and playlists' `listening` (smart playlists).
    expect(LOG_READERS).toEqual(new Set(['stats', 'scrobbler', 'playlists']));
    expect(SERVICE_NAMES.some((s) => matches(perms('gateway').read, `rpc.${s}`))).toBe(false);
    for (const stream of ['music.events.log', 'music.events.log.p0', 'music.events.log.p7']) {
      expect(matches(perms('stats').read, stream)).toBe(true);
      expect(matches(perms('playlists').read, stream)).toBe(true);
      expect(matches(perms('replay').read, stream)).toBe(true);
      expect(matches(perms('catalog').read, stream)).toBe(false);
    }
    // The count's marker is an exchange nobody reads.
    expect(matches(perms('stats').read, 'music.events.log.partitions-8')).toBe(false);
    expect(perms('replay').write).toBe('');
    expect(perms('replay').configure).toBe('');
    for (const kind of kinds) expect(matches(perms(kind.name).read, 'amq.default')).toBe(false);
  });

  it('in a namespace, names carry its prefix and nothing outside it matches', () => {
    const { read, configure, write } = perms('users', 'ns_1');
    expect(matches(read, 'ns_1.rpc.users')).toBe(true);
    expect(matches(read, 'rpc.users')).toBe(false);
    expect(matches(configure, 'ns_1Xrpc.users')).toBe(false);
    expect(matches(write, 'ns_1.music.events')).toBe(true);
    expect(matches(write, 'music.events')).toBe(false);
    expect(brokerUserName('ns_1', 'users')).toBe('ns_1-users');
    expect(brokerUserName('', 'gateway')).toBe('music-gateway');
  });

  it('a caller and a client address are read only from the trusted broker user’s requests', () => {
    const headers = callerHeaders({
      caller: { userId: 'u1', username: 'ann', admin: false },
      clientAddress: '10.0.0.1',
    });
    expect(readCallerHeaders(headers, 'music-gateway', 'music-gateway')).toEqual({
      caller: { userId: 'u1', username: 'ann', admin: false },
      clientAddress: '10.0.0.1',
    });
    // The role too: believed from the gateway only.
    const admin = callerHeaders({ caller: { userId: 'u2', username: 'bea', admin: true } });
    expect(readCallerHeaders(admin, 'music-gateway', 'music-gateway').caller).toEqual({
      userId: 'u2',
      username: 'bea',
      admin: true,
    });
    for (const sender of ['music-catalog', 'guest', undefined]) {
      for (const h of [headers, admin]) {
        expect(readCallerHeaders(h, sender, 'music-gateway')).toMatchObject({
          caller: undefined,
          clientAddress: undefined,
          ignoredFrom: sender ?? '(none)',
        });
      }
    }
    expect(readCallerHeaders({}, 'guest', 'music-gateway')).toEqual({
      caller: undefined,
      clientAddress: undefined,
    });
  });

  it("believes a caller from the gateway and the services acting for it, from nobody else's", () => {
    const trusted = trustedCallers(testConfig({ brokerUsers: true }), '', SYSTEM);
    expect([...trusted].sort()).toEqual(['music-gateway', ...SERVICE_NAMES.map((s) => `music-${s}`)].sort());
    const headers = callerHeaders({ caller: { userId: 'u1', username: 'ann', admin: false } });
    expect(readCallerHeaders(headers, 'music-playlists', trusted).caller?.userId).toBe('u1');
    for (const sender of ['music-replay', 'guest', undefined]) {
      expect(readCallerHeaders(headers, sender, trusted).caller, String(sender)).toBeUndefined();
    }
  });

  it('passwords are derived per user from the secret', () => {
    const secret = 'x'.repeat(43);
    expect(brokerPassword(secret, 'a-gateway')).not.toBe(brokerPassword(secret, 'a-users'));
    expect(brokerPassword(secret, 'a-gateway')).toBe(brokerPassword(secret, 'a-gateway'));
    expect(brokerPassword(secret, 'a-gateway')).not.toBe(brokerPassword(`${secret}y`, 'a-gateway'));
  });
});

describe('a system whose processes each have a broker user', () => {
  const ns = namespace('bu');
  let dir: string;
  let config: Config;
  const services: RunningService[] = [];
  let gateway: RunningGateway;
  let url: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), `${ns}-`));
    config = testConfig({
      port: 0,
      brokerUsers: true,
      brokerSecretFile: join(dir, 'broker-secret'),
      amqpNamespace: ns,
    });
    await makeBrokerUsers(ns, config.brokerSecretFile);
    services.push(...(await startAllServices(config, ns)));
    gateway = await startGateway({ config, logger: silentLogger, namespace: ns, drainMs: 1000 });
    url = `http://127.0.0.1:${gateway.port}`;
  }, 60_000);

  afterAll(async () => {
    await gateway?.stop();
    for (const s of services) await s.stop();
    for (const name of SERVICE_NAMES) {
      const pool = testPool(`${ns}_${name}`);
      await dropSchema(pool, `${ns}_${name}`).catch(() => {});
      await pool.end();
    }
    await cleanupBroker(ns);
    const left = await managementGet<Array<{ name: string }>>('/api/users');
    expect(left.filter((u) => u.name.startsWith(`${ns}-`))).toEqual([]);
    await rm(dir, { recursive: true, force: true });
  }, 60_000);

  async function post(path: string, body: unknown, token?: string): Promise<{ status: number; body: Json }> {
    const res = await fetch(`${url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: await res.json() };
  }

  async function register(): Promise<{ userId: string; username: string; token: string }> {
    const username = `u${randomBytes(4).toString('hex')}`;
    const password = `pw-${randomBytes(8).toString('hex')}`;
    expect((await post('/api/users', { username, password })).status).toBe(201);
    const login = await post('/api/sessions', { username, password });
    expect(login.status).toBe(201);
    const token = login.body.token as string;
    const me = await fetch(`${url}/api/me`, { headers: { authorization: `Bearer ${token}` } });
    expect(me.status).toBe(200);
    const user = (await me.json()) as { id: string; username: string };
    expect(user.username).toBe(username);
    return { userId: user.id, username, token };
  }

  /** A broker connection in the namespace as a kind of process's own user. */
  async function connectAs(kind: string): Promise<Broker> {
    const brokerUrl = await brokerUrlFor(config, kind, ns);
    return Broker.connect({ url: brokerUrl, name: `${kind}-as-test`, logger: silentLogger, namespace: ns });
  }

  /** One JSON-RPC request published by hand on a connection as `amqpUrl`'s user. */
  async function publishByHand(
    amqpUrl: string,
    method: string,
    headers: Record<string, string>,
    userId?: string,
  ): Promise<Json> {
    const conn = await amqp.connect(amqpUrl);
    try {
      const ch = await conn.createChannel();
      ch.on('error', () => {});
      const reply = new Promise<Json>((resolve, reject) => {
        ch.on('close', () => reject(new Error('channel closed by the broker')));
        void ch.consume(
          'amq.rabbitmq.reply-to',
          (msg) => msg && resolve(JSON.parse(msg.content.toString())),
          { noAck: true },
        );
      });
      ch.publish(
        '',
        `${ns}.rpc.users`,
        Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: 1, method, params: {} })),
        {
          replyTo: 'amq.rabbitmq.reply-to',
          headers,
          ...(userId ? { userId } : {}),
        },
      );
      return await reply;
    } finally {
      await conn.close().catch(() => {});
    }
  }

  it('a request published by hand as guest with another user’s identity is refused', async () => {
    const victim = await register();
    const headers = callerHeaders({
      caller: { userId: victim.userId, username: victim.username, admin: false },
    });
    for (const userId of [undefined, 'guest']) {
      const reply = await publishByHand(AMQP_URL, 'users.me', headers, userId);
      expect(reply.error?.code).toBe(ErrorCodes.UNAUTHORIZED);
      expect(reply.error?.message).toMatch(/taken only from the gateway's and the services' requests/);
      expect(reply.result).toBeUndefined();
    }
    // Nor can guest claim to be the gateway's user: the broker checks the user-id property.
    await expect(publishByHand(AMQP_URL, 'users.me', headers, brokerUserName(ns, 'gateway'))).rejects.toThrow(
      /closed/,
    );
  });

  it('the same call through the gateway works', async () => {
    const user = await register();
    const res = await fetch(`${url}/api/me`, { headers: { authorization: `Bearer ${user.token}` } });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { id: string }).id).toBe(user.userId);
  });

  it('a service calls another with its own identity (internal methods)', async () => {
    const broker = await connectAs('history');
    const rpc = new RpcClient({ broker, logger: silentLogger, timeoutMs: 5000 });
    try {
      await rpc.start();
      expect(broker.user).toBe(`${ns}-history`);
      await expect(rpc.call('catalog', 'getTrackFile', { id: 'tr1' })).rejects.toMatchObject({
        code: ErrorCodes.NOT_FOUND,
      });
    } finally {
      await rpc.stop();
      await broker.close();
    }
  });

  it('the replay tool’s user reads the event log and nothing else', async () => {
    const broker = await connectAs('replay');
    try {
      expect(broker.user).toBe(`${ns}-replay`);
      await logBounds(broker, 0);
      const ch = await broker.channel();
      await expect(ch.consume(`${ns}.rpc.users`, () => {})).rejects.toThrow(/ACCESS_REFUSED|403/);
    } finally {
      await broker.close();
    }
  });

  it('a service’s broker user cannot read another service’s request queue', async () => {
    const catalogUrl = await brokerUrlFor(config, 'catalog', ns);
    const conn = await amqp.connect(catalogUrl);
    try {
      // Its own queue: allowed (a consumer beside the worker's, cancelled at once).
      const own = await conn.createChannel();
      const { consumerTag } = await own.consume(`${ns}.rpc.catalog`, () => {});
      await own.cancel(consumerTag);
      await own.close();
      const other = await conn.createChannel();
      other.on('error', () => {});
      await expect(other.consume(`${ns}.rpc.users`, () => {})).rejects.toThrow(/ACCESS_REFUSED|403/);
      const third = await conn.createChannel();
      third.on('error', () => {});
      await expect(third.consume(`${ns}.history.track-played`, () => {})).rejects.toThrow(
        /ACCESS_REFUSED|403/,
      );
    } finally {
      await conn.close().catch(() => {});
    }
  });

  it('the services run as their own users, and none of them may use the management UI', async () => {
    const users = await managementGet<Array<{ name: string; tags: string[] | string }>>('/api/users');
    const ours = users.filter((u) => u.name.startsWith(`${ns}-`));
    expect(ours.map((u) => u.name).sort()).toEqual(
      ['gateway', ...SERVICE_NAMES, 'replay'].map((k) => brokerUserName(ns, k)).sort(),
    );
    for (const u of ours) expect(u.tags.length).toBe(0);
    // The broker's own list (the management API's lags by its statistics interval).
    const connected = await rabbitmqctl(['list_connections', '-q', '--no-table-headers', 'user']);
    const names = new Set(connected.split('\n').map((l) => l.trim()));
    for (const kind of ['gateway', ...SERVICE_NAMES]) expect(names.has(brokerUserName(ns, kind))).toBe(true);
  });
});
