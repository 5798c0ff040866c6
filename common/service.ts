import type { Logger } from 'pino';
import { Broker } from './amqp/broker.js';
import { type Config, config as loadConfig } from './config.js';
import { EVENT_QUEUES } from './contracts/events.js';
import { migrate } from './db/migrate.js';
import { OutboxRelay } from './db/outbox.js';
import { createPool, type Pool } from './db/pool.js';
import { EventPublisher } from './events/publisher.js';
import { rootLogger } from './logger.js';
import { RpcClient } from './rpc/client.js';

/** What a service gets to build its handlers and consumers. */
export interface ServiceDeps {
  config: Config;
  log: Logger;
  broker: Broker;
  pool: Pool;
  /** Calls to other services. */
  rpc: RpcClient;
  publisher: EventPublisher;
  /** The schema this service owns (its name, or a test's namespaced one). */
  schema: string;
}

/** Anything with a start and a graceful stop: RPC servers and event consumers. */
export interface Worker {
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface ServiceParts {
  server?: Worker;
  consumers?: Worker[];
  /** Publish this schema's outbox (services that write events in transactions). */
  outbox?: boolean;
  /** Extra cleanup, run after consumers stop and before connections close. */
  close?: () => Promise<void>;
}

export interface ServiceDefinition {
  name: string;
  /** Folder of plain-SQL migrations. */
  migrations?: string;
  setup(deps: ServiceDeps): Promise<ServiceParts>;
}

export interface StartOverrides {
  config?: Config;
  logger?: Logger;
  /** Broker namespace (tests). */
  namespace?: string;
  /** Schema to use instead of the service's name (tests). */
  schema?: string;
  /** Skip migrations (when another worker already ran them). */
  migrate?: boolean;
}

export interface RunningService {
  deps: ServiceDeps;
  parts: ServiceParts;
  relay: OutboxRelay | null;
  stop(): Promise<void>;
}

/**
 * Starts one worker of a service: database pool and migrations, broker connection, RPC
 * server, event consumers and the outbox relay. `stop` shuts down in order: stop consumers
 * and finish in-flight work, stop the relay, close publishers and the connection, then the pool.
 */
export async function startService(
  def: ServiceDefinition,
  overrides: StartOverrides = {},
): Promise<RunningService> {
  const config = overrides.config ?? loadConfig();
  const log = (overrides.logger ?? rootLogger()).child({ service: def.name });
  const schema = overrides.schema ?? def.name;
  const pool = createPool({
    url: config.databaseUrl,
    schema,
    max: config.dbPoolSize,
    applicationName: def.name,
  });
  const broker = await Broker.connect({
    url: config.amqpUrl,
    name: def.name,
    logger: log,
    namespace: overrides.namespace ?? config.amqpNamespace,
  }).catch(async (err) => {
    await pool.end();
    throw err;
  });
  try {
    if (def.migrations && overrides.migrate !== false) await migrate(pool, schema, def.migrations, log);
    const rpc = new RpcClient({ broker, logger: log, timeoutMs: config.rpcTimeoutMs });
    const publisher = new EventPublisher({ broker, logger: log, queues: EVENT_QUEUES });
    await rpc.start();
    await publisher.start();
    const deps: ServiceDeps = { config, log, broker, pool, rpc, publisher, schema };
    const parts = await def.setup(deps);
    const relay = parts.outbox ? new OutboxRelay({ pool, publisher, logger: log }) : null;
    await parts.server?.start();
    for (const c of parts.consumers ?? []) await c.start();
    await relay?.start();
    log.info({ pid: process.pid }, 'worker started');
    let stopping: Promise<void> | null = null;
    const stop = () => {
      stopping ??= (async () => {
        await parts.server?.stop();
        await Promise.all((parts.consumers ?? []).map((c) => c.stop()));
        await relay?.stop();
        await parts.close?.();
        await rpc.stop();
        await publisher.stop();
        await broker.close();
        await pool.end();
        log.info('worker stopped');
      })();
      return stopping;
    };
    return { deps, parts, relay, stop };
  } catch (err) {
    await broker.close();
    await pool.end();
    throw err;
  }
}

/** Entry point of a worker process: start, and stop gracefully on SIGINT/SIGTERM. */
export async function runService(def: ServiceDefinition): Promise<void> {
  const log = rootLogger().child({ service: def.name });
  let running: RunningService;
  try {
    running = await startService(def);
  } catch (err) {
    log.fatal({ err }, 'could not start');
    process.exit(1);
  }
  running.deps.broker.on('fatal', () => {
    log.fatal('lost the broker for good; exiting');
    process.exit(1);
  });
  const shutdown = (signal: string) => {
    log.info({ signal }, 'shutting down');
    const force = setTimeout(() => {
      log.error('shutdown took too long; exiting');
      process.exit(1);
    }, 20_000);
    force.unref();
    running.stop().then(
      () => process.exit(0),
      (err) => {
        log.error({ err }, 'error during shutdown');
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
}
