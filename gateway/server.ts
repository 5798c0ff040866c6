import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { Broker } from '../common/amqp/broker.js';
import type { Config } from '../common/config.js';
import { EVENT_QUEUES } from '../common/contracts/events.js';
import { createPool } from '../common/db/pool.js';
import { EventPublisher } from '../common/events/publisher.js';
import { RpcClient } from '../common/rpc/client.js';
import { buildApp, type GatewayOptions } from './app.js';

/** How long requests in flight get to finish on shutdown before their connections are cut. */
const DRAIN_MS = 10_000;

export interface RunningGateway {
  server: Server;
  broker: Broker;
  rpc: RpcClient;
  publisher: EventPublisher;
  /** The port actually listened on (useful with port 0). */
  port: number;
  /** Stops accepting, lets requests in flight finish, then closes RPC, publisher, broker and pool. */
  stop(): Promise<void>;
}

function closeServer(server: Server, drainMs: number): Promise<void> {
  return new Promise((resolve) => {
    const force = setTimeout(() => server.closeAllConnections(), drainMs);
    // Keep-alive connections go idle as their last request finishes; close each as it does,
    // or `close` would wait for their keep-alive timeout.
    const reap = setInterval(() => server.closeIdleConnections(), 50);
    force.unref();
    reap.unref();
    server.close(() => {
      clearTimeout(force);
      clearInterval(reap);
      resolve();
    });
    server.closeIdleConnections();
  });
}

/**
 * Connects the gateway's dependencies and listens: one broker connection with an RPC client
 * and an event publisher (declaring every consumer group's queue, so no play waits on a
 * consumer having started once), and a small pool used only by the health check.
 */
export async function startGateway(opts: {
  config: Config;
  logger: Logger;
  /** Broker namespace (tests). */
  namespace?: string;
  options?: GatewayOptions;
  drainMs?: number;
}): Promise<RunningGateway> {
  const { config, logger: log } = opts;
  const broker = await Broker.connect({
    url: config.amqpUrl,
    name: 'gateway',
    logger: log,
    ...(opts.namespace ? { namespace: opts.namespace } : {}),
  });
  const rpc = new RpcClient({ broker, logger: log, timeoutMs: config.rpcTimeoutMs });
  const publisher = new EventPublisher({ broker, logger: log, queues: EVENT_QUEUES });
  // The gateway owns no schema; any search_path will do for `SELECT 1`.
  const pool = createPool({ url: config.databaseUrl, schema: 'public', max: 2, applicationName: 'gateway' });
  try {
    await rpc.start();
    await publisher.start();
    const app = buildApp({
      broker,
      rpc,
      publisher,
      db: pool,
      logger: log,
      options: { publishTimeoutMs: config.rpcTimeoutMs, ...opts.options },
    });
    const server = await new Promise<Server>((resolve, reject) => {
      // Express 5 hands listen errors (e.g. EADDRINUSE) to this callback.
      const s = app.listen(config.port, (err?: Error) => (err ? reject(err) : resolve(s)));
    });
    const port = (server.address() as AddressInfo).port;
    log.info({ port }, 'gateway listening');
    let stopping: Promise<void> | null = null;
    const stop = () => {
      stopping ??= (async () => {
        await closeServer(server, opts.drainMs ?? DRAIN_MS);
        await rpc.stop();
        await publisher.stop();
        await broker.close();
        await pool.end();
        log.info('gateway stopped');
      })();
      return stopping;
    };
    return { server, broker, rpc, publisher, port, stop };
  } catch (err) {
    await broker.close();
    await pool.end();
    throw err;
  }
}
