import { mkdtemp, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import type { Broker } from '../../common/amqp/broker.js';
import type { Config } from '../../common/config.js';
import { EVENT_QUEUES, EventTypes } from '../../common/contracts/events.js';
import { dropSchema } from '../../common/db/migrate.js';
import { EventPublisher } from '../../common/events/publisher.js';
import { RpcClient } from '../../common/rpc/client.js';
import { type RunningService, type ServiceDefinition, startService } from '../../common/service.js';
import { buildSubsonicRouter, type SubsonicOptions } from '../../gateway/subsonic/index.js';
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
  close(): Promise<void>;
}

/**
 * The real catalog (seeded into a temporary media folder), users and playlists services in
 * one test namespace with their own schemas, and the Subsonic router on its own express app on
 * port 0, with an event tap recording `track.played`.
 */
export async function startSubsonic(options: SubsonicOptions = {}): Promise<SubsonicHarness> {
  const ns = namespace('ss');
  const mediaDir = await mkdtemp(join(tmpdir(), `${ns}-media-`));
  const config = testConfig({ mediaDir, rpcTimeoutMs: 5000, tokenSecret: `subsonic-test-${ns}` });
  const services = new Map<string, RunningService>();
  const schemas = new Set<string>();

  async function start(def: ServiceDefinition): Promise<RunningService> {
    const schema = `${ns}_${def.name}`;
    schemas.add(schema);
    const running = await startService(def, { config, logger: silentLogger, namespace: ns, schema });
    services.set(def.name, running);
    return running;
  }

  async function stop(name: string): Promise<void> {
    await services.get(name)?.stop();
    services.delete(name);
  }

  const catalog = await start(catalogService);
  await seedCatalog(catalog.deps.pool, mediaDir);
  await start(usersService);
  await start(playlistsService);

  const broker: Broker = await connectBroker(ns, 'subsonic');
  const tap = await EventTap.open(broker, [EventTypes.TRACK_PLAYED]);
  const rpc = new RpcClient({ broker, logger: silentLogger, timeoutMs: config.rpcTimeoutMs });
  const publisher = new EventPublisher({ broker, logger: silentLogger, queues: EVENT_QUEUES });
  await rpc.start();
  await publisher.start();

  const app = express();
  app.set('query parser', 'simple');
  app.use('/rest', buildSubsonicRouter({ rpc, publisher, logger: silentLogger, config, options }));
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/rest`;

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
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      for (const name of [...services.keys()].reverse()) await stop(name);
      await tap.close();
      await rpc.stop();
      await publisher.stop();
      await broker.close();
      const pool = testPool('public');
      for (const schema of schemas) await dropSchema(pool, schema);
      await pool.end();
      await cleanupBroker(ns);
      await rm(mediaDir, { recursive: true, force: true });
    },
  };
}
