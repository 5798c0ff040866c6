import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Broker } from '../../common/amqp/broker.js';
import type { Config } from '../../common/config.js';
import { Events } from '../../common/contracts/events.js';
import { SYSTEM } from '../../common/contracts/index.js';
import { dropSchema } from '../../common/db/migrate.js';
import { RpcClient } from '../../common/rpc/client.js';
import { type RunningService, type ServiceDefinition, startService } from '../../common/service.js';
import { type RunningGateway, startGateway } from '../../gateway/server.js';
import { catalogService, seedCatalog } from '../../services/catalog/index.js';
import { playlistsService } from '../../services/playlists/service.js';
import { usersService } from '../../services/users/service.js';
import { cleanupBroker, connectBroker, namespace, silentLogger, testConfig, testPool } from './env.js';
import { EventTap } from './event-tap.js';

export interface SubsonicHarness {
  ns: string;
  /** Base URL of the API, ending in `/rest`. */
  url: string;
  config: Config;
  rpc: RpcClient;
  tap: EventTap;
  mediaDir: string;
  /** The running workers by service name. */
  services: Map<string, RunningService>;
  /** Starts (another) service in the namespace, e.g. history and stats. */
  start(def: ServiceDefinition): Promise<RunningService>;
  /** Stops a service started earlier. */
  stop(name: string): Promise<void>;
  /** Another gateway in front of the same services (stop it yourself), with settings of its own. */
  gateway(opts?: { config?: Partial<Config>; logger?: Logger }): Promise<RunningGateway>;
  close(): Promise<void>;
}

/**
 * The real catalog (seeded into a temporary media folder), users and playlists services in
 * one test namespace with their own schemas, and a gateway in front of them on port 0 (its
 * `/rest` is the API under test), with an event tap recording `track.played`.
 */
export async function startSubsonic(
  options: { authTtlMs?: number; config?: Partial<Config> } = {},
): Promise<SubsonicHarness> {
  const ns = namespace('ss');
  const mediaDir = await mkdtemp(join(tmpdir(), `${ns}-media-`));
  const config = testConfig({
    mediaDir,
    rpcTimeoutMs: 5000,
    tokenSecret: `subsonic-test-secret-of-${ns}`,
    ...(options.authTtlMs === undefined ? {} : { tokenCacheTtlMs: options.authTtlMs }),
    ...options.config,
  });
  const services = new Map<string, RunningService>();
  const schemas = new Set<string>();

  async function start(def: ServiceDefinition): Promise<RunningService> {
    const schema = `${ns}_${def.name}`;
    schemas.add(schema);
    const running = await startService(def, {
      system: SYSTEM,
      config,
      logger: silentLogger,
      namespace: ns,
      schema,
    });
    services.set(def.name, running);
    return running;
  }

  async function stop(name: string): Promise<void> {
    await services.get(name)?.stop();
    services.delete(name);
  }

  let broker: Broker | undefined;
  let tap: EventTap | undefined;
  let rpc: RpcClient | undefined;
  let gateway: RunningGateway | undefined;
  /** Stops what has started and removes what the namespace made: on close, and on a failed start. */
  async function close(): Promise<void> {
    await gateway?.stop();
    for (const name of [...services.keys()].reverse()) await stop(name);
    await tap?.close();
    await rpc?.stop();
    await broker?.close();
    const pool = testPool('public');
    for (const schema of schemas) await dropSchema(pool, schema);
    await pool.end();
    await cleanupBroker(ns);
    await rm(mediaDir, { recursive: true, force: true });
  }
  const another = (opts: { config?: Partial<Config>; logger?: Logger } = {}) =>
    startGateway({
      config: { ...config, ...opts.config, port: 0 },
      logger: opts.logger ?? silentLogger,
      namespace: ns,
      drainMs: 500,
    });
  try {
    const catalog = await start(catalogService);
    await seedCatalog(catalog.deps.pool, mediaDir);
    await start(usersService);
    await start(playlistsService);
    broker = await connectBroker(ns, 'subsonic');
    tap = await EventTap.open(broker, [Events.trackPlayed.type]);
    rpc = new RpcClient({ broker, logger: silentLogger, timeoutMs: config.rpcTimeoutMs });
    await rpc.start();
    gateway = await another();
  } catch (err) {
    await close().catch(() => {});
    throw err;
  }
  const url = `http://127.0.0.1:${gateway.port}/rest`;

  return {
    ns,
    url,
    config,
    rpc,
    tap,
    mediaDir,
    services,
    start,
    stop,
    gateway: another,
    close,
  };
}
