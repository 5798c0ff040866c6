import { createHmac } from 'node:crypto';
import { namespaced, urlUser } from './amqp/broker.js';
import { type Config, parseAmqpUrls } from './config.js';
import { EVENTS_EXCHANGE, eventQueue } from './events/envelope.js';
import { LEGACY_STREAM, PARTITIONS_EXCHANGE } from './events/partitions.js';
import { repoPath } from './paths.js';
import type { Contract } from './rpc/contract.js';
import { rpcQueue } from './rpc/wire.js';
import { readOrCreateSecretFile } from './secret-file.js';
import type { System } from './system.js';

/**
 * Least privilege on the broker: each kind of process (the gateway, each service, the replay
 * tool) connects as a broker user of its own, whose permissions (RabbitMQ's configure, write
 * and read regular expressions) name exactly the exchanges and queues that kind declares,
 * publishes to and consumes, derived here from the system's declaration. Services take a
 * caller's identity only from requests whose `user-id` property, which the broker checks
 * against the connection's user, is the gateway's (common/rpc/wire.ts).
 */

/** One kind of process, as far as the broker is concerned. */
export interface ProcessKind {
  /** `gateway`, a service's name, or a tool's (`replay`): the user is `<prefix>-<name>`. */
  readonly name: string;
  /**
   * Runs the service runner (common/service.ts): an RPC client, and an event publisher that
   * declares the event exchange, the event log and every consumer group's queues.
   */
  readonly runner: boolean;
  /** The contract it serves: its request queue, and its consumer group's queues. */
  readonly contract?: Contract;
  /** Reads the event log (projections, replays). */
  readonly readsLog: boolean;
}

/** RabbitMQ's three permissions of a user in a virtual host, as regular expressions. */
export interface Permissions {
  configure: string;
  write: string;
  read: string;
}

/** The kind of process the gateway is, which serves the clients. */
export const GATEWAY_KIND = 'gateway';

/** Every kind of process of a system: the gateway, each service, and the replay tool. */
export function systemKinds(system: System, logReaders: ReadonlySet<string>): ProcessKind[] {
  return [
    { name: GATEWAY_KIND, runner: true, readsLog: false },
    ...[...system.contracts.values()].map((contract) => ({
      name: contract.service,
      runner: true,
      contract,
      readsLog: logReaders.has(contract.service),
    })),
    { name: 'replay', runner: false, readsLog: true },
  ];
}

/** The broker user of a kind of process: `music-<kind>`, or `<namespace>-<kind>` in a namespace. */
export function brokerUserName(namespace: string, kind: string): string {
  return `${namespace || 'music'}-${kind}`;
}

const escapeRegex = (name: string) => name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A regular expression matching exactly these names (and patterns); '' matches nothing. */
function only(names: readonly string[], patterns: readonly string[] = []): string {
  const all = [...new Set(names)].map(escapeRegex).concat(patterns);
  return all.length === 0 ? '' : `^(${all.join('|')})$`;
}

/** What requests and replies, retries and dead letters are published through: the default exchange. */
const DEFAULT_EXCHANGE = 'amq.default';

/**
 * The permissions of one kind of process, from what it declares, publishes and consumes:
 * - every runner process publishes RPC requests and replies, retries and dead letters through
 *   the default exchange (RabbitMQ cannot limit that one by routing key: a request queue is
 *   protected by who may read it, and a caller's identity by the `user-id` check), publishes
 *   events to the event exchange, and declares and binds the exchange, the event log and every
 *   consumer group's main and dead-letter queue (so an event waits for consumers not yet started);
 * - a service also declares and consumes its own request queue, and its own consumer group's
 *   queues, retry queues included (their dead-lettering back to the main queue is checked at
 *   declaration: read on the retry queue, write on the default exchange);
 * - a log reader consumes the event log.
 * Nothing else: no kind reads another's request queue or another group's events.
 */
export function permissionsOf(kind: ProcessKind, system: System, namespace: string): Permissions {
  const n = (base: string) => namespaced(namespace, base);
  const configure: string[] = [];
  const write: string[] = [];
  const read: string[] = [];
  const readPatterns: string[] = [];
  const configurePatterns: string[] = [];
  // The event log: its partitions' streams (`music.events.log.p<n>`, the single stream of the
  // layout before partitions, the count's marker exchange) and the exchanges that place events
  // in them (`music.events.partitions`, its alternate exchange `.unkeyed`).
  const logStreams = `${escapeRegex(n(LEGACY_STREAM))}(\\.p\\d+)?`;
  const logNames = `${escapeRegex(n(LEGACY_STREAM))}(\\..+)?`;
  const placing = `${escapeRegex(n(PARTITIONS_EXCHANGE))}(\\..+)?`;
  const writePatterns: string[] = [];
  if (kind.runner) {
    const groups = system.eventQueues.map((q) => n(eventQueue(q.group, q.event)));
    configure.push(n(EVENTS_EXCHANGE), ...groups, ...groups.map((q) => `${q}.dead`));
    configurePatterns.push(logNames, placing);
    write.push(DEFAULT_EXCHANGE, n(EVENTS_EXCHANGE), ...groups);
    writePatterns.push(logNames, placing);
    read.push(n(EVENTS_EXCHANGE));
    readPatterns.push(placing);
  }
  if (kind.contract) {
    const service = kind.contract.service;
    configure.push(n(rpcQueue(service)));
    read.push(n(rpcQueue(service)));
    for (const q of system.eventQueues.filter((e) => e.group === service)) {
      const main = n(eventQueue(q.group, q.event));
      const retry = `${escapeRegex(main)}\\.retry\\.\\d+ms`;
      configurePatterns.push(retry);
      readPatterns.push(retry);
      read.push(main);
    }
  }
  if (kind.readsLog) readPatterns.push(logStreams);
  return {
    configure: only(configure, configurePatterns),
    write: only(write, writePatterns),
    read: only(read, readPatterns),
  };
}

/** A broker user's password: derived from the broker secret and the user's name. */
export function brokerPassword(secret: string, user: string): string {
  return createHmac('sha256', secret).update(`broker-user\n${user}`).digest('base64url');
}

/** The broker secret: the first line of BROKER_SECRET_FILE, made on first use (mode 600). */
export async function loadBrokerSecret(config: Pick<Config, 'brokerSecretFile'>): Promise<string> {
  const [secret] = await readOrCreateSecretFile(repoPath(config.brokerSecretFile));
  return secret!;
}

/** Every node URL of an AMQP_URL value with these credentials instead of its own. */
export function withCredentials(amqpUrl: string, user: string, password: string): string {
  const urls = parseAmqpUrls(amqpUrl);
  if (!urls) throw new Error('invalid broker URL list (see AMQP_URL)');
  return urls
    .map((raw) => {
      const u = new URL(raw);
      u.username = encodeURIComponent(user);
      u.password = encodeURIComponent(password);
      return u.toString();
    })
    .join(',');
}

/**
 * The AMQP URL a kind of process connects with: its own user with BROKER_USERS, AMQP_URL's
 * credentials without.
 */
export async function brokerUrlFor(config: Config, kind: string, namespace: string): Promise<string> {
  if (!config.brokerUsers) return config.amqpUrl;
  const user = brokerUserName(namespace, kind);
  return withCredentials(config.amqpUrl, user, brokerPassword(await loadBrokerSecret(config), user));
}

/**
 * The broker users whose requests may say on whose behalf they are made: the gateway's, which
 * serves the clients, and each service's, which call others for the caller they serve (the
 * playlists service reads the catalog as the playlist's reader, so a library the reader may
 * not see stays hidden). Not the replay tool's, nor anyone's outside the system (guest).
 */
export function trustedCallers(config: Config, namespace: string, system: System): ReadonlySet<string> {
  if (!config.brokerUsers) return new Set([urlUser(config.amqpUrl)]);
  return new Set([
    brokerUserName(namespace, GATEWAY_KIND),
    ...[...system.contracts.keys()].map((service) => brokerUserName(namespace, service)),
  ]);
}

// --- the management API -------------------------------------------------------------------------

/** Where and as whom users are managed: an administrator of the broker. */
export interface BrokerAdmin {
  /** `http://host:15672`, no trailing slash. */
  url: string;
  /** `user:password` of an administrator. */
  auth: string;
  vhost: string;
}

/**
 * The management API of AMQP_URL's broker, as AMQP_URL's user (an administrator: the machine's
 * guest): BROKER_MANAGEMENT_URL, or the first node's host with its port plus 10000 (5672 gives
 * 15672, and scripts/broker-cluster.sh's 5681 gives 15681).
 */
export function brokerAdmin(config: Config): BrokerAdmin {
  const first = new URL(parseAmqpUrls(config.amqpUrl)![0]!);
  const port = Number(first.port || (first.protocol === 'amqps:' ? 5671 : 5672)) + 10_000;
  const user = decodeURIComponent(first.username) || 'guest';
  const password = first.username ? decodeURIComponent(first.password) : 'guest';
  const vhost = decodeURIComponent(first.pathname.slice(1)) || '/';
  return {
    url: config.brokerManagementUrl || `http://${first.hostname}:${port}`,
    auth: `${user}:${password}`,
    vhost,
  };
}

async function management(
  admin: BrokerAdmin,
  method: string,
  path: string,
  body?: unknown,
): Promise<Response> {
  const res = await fetch(`${admin.url}/api${path}`, {
    method,
    headers: {
      authorization: `Basic ${Buffer.from(admin.auth).toString('base64')}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(15_000),
  });
  if (!res.ok) {
    // Never the body we sent: it holds passwords.
    throw new Error(
      `broker management API: ${method} ${path.split('/').slice(0, 3).join('/')}: ${res.status}`,
    );
  }
  return res;
}

/**
 * Waits until the management API answers (a broker just started takes a few seconds). It asks
 * `/whoami`, which needs only the API and its login: `/overview` also needs the node's
 * statistics, and RabbitMQ 3.10's statistics agent can crash for good (a `case_clause` in
 * `rabbit_net:dist_info` when CLI tools connect at once) while users and permissions still work.
 */
export async function waitForManagement(admin: BrokerAdmin, timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      await management(admin, 'GET', '/whoami');
      return;
    } catch (err) {
      if (Date.now() > until)
        throw new Error(`${(err as Error).message} (waited ${timeoutMs} ms for ${admin.url})`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

export interface BrokerUser {
  name: string;
  password: string;
  permissions: Permissions;
}

/** The users of every kind of a system in a namespace, with their passwords and permissions. */
export function systemUsers(
  kinds: readonly ProcessKind[],
  system: System,
  namespace: string,
  secret: string,
): BrokerUser[] {
  return kinds.map((kind) => {
    const name = brokerUserName(namespace, kind.name);
    return {
      name,
      password: brokerPassword(secret, name),
      permissions: permissionsOf(kind, system, namespace),
    };
  });
}

/** Creates the users, or sets their password and permissions when they exist (no tags: no management UI). */
export async function putBrokerUsers(admin: BrokerAdmin, users: readonly BrokerUser[]): Promise<void> {
  const vhost = encodeURIComponent(admin.vhost);
  for (const user of users) {
    const name = encodeURIComponent(user.name);
    await management(admin, 'PUT', `/users/${name}`, { password: user.password, tags: '' });
    await management(admin, 'PUT', `/permissions/${vhost}/${name}`, user.permissions);
  }
}

/** Deletes every user whose name starts with `prefix` (their permissions go with them); returns their names. */
export async function deleteBrokerUsers(admin: BrokerAdmin, prefix: string): Promise<string[]> {
  const all = (await (await management(admin, 'GET', '/users')).json()) as Array<{ name: string }>;
  const names = all.map((u) => u.name).filter((n) => n.startsWith(prefix));
  if (names.length > 0) await management(admin, 'POST', '/users/bulk-delete', { users: names });
  return names;
}
