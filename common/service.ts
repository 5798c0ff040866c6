import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { Broker } from './amqp/broker.js';
import { brokerUrlFor, trustedCallers } from './broker-users.js';
import { type Config, databaseUrlFor, config as processConfig } from './config.js';
import { translateDatabaseError } from './db/errors.js';
import { migrate } from './db/migrate.js';
import { OutboxRelay } from './db/outbox.js';
import { createPool, type Pool } from './db/pool.js';
import { EventConsumer, type HandlerContext } from './events/consumer.js';
import type { EventEnvelope } from './events/envelope.js';
import type { LogSettings } from './events/log.js';
import { EventPublisher } from './events/publisher.js';
import { rootLogger } from './logger.js';
import type { Projection } from './projections/projection.js';
import { ProjectionRunner } from './projections/runner.js';
import { RpcClient } from './rpc/client.js';
import type { Contract, Handlers, SubscribedData, SubscriptionName } from './rpc/contract.js';
import { RpcServer } from './rpc/server.js';
import type { System } from './system.js';

/** What a service gets to build its handlers. */
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
  system: System;
}

/** Anything with a start and a graceful stop. */
export interface Worker {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** One handler per subscription of the contract, taking a batch of its events. */
export type Subscribers<C extends Contract> = {
  [K in SubscriptionName<C>]: (
    events: EventEnvelope<SubscribedData<C['subscriptions'][K]>>[],
    ctx: HandlerContext,
  ) => Promise<void>;
};

/** What a service's `setup` builds; the runner wires it to the broker. */
export interface ServiceParts<C extends Contract> {
  /** One per contract method, served on the service's request queue. */
  handlers: Handlers<C>;
  /** One per subscription; resolving means the batch's effects are committed. */
  subscribers: Subscribers<C>;
  /** Started after the RPC server and consumers, stopped before them (the gateway's HTTP server). */
  workers?: Worker[];
  /** Extra cleanup, run after consumers stop and before connections close. */
  close?: () => Promise<void>;
}

/**
 * The declaration of one service: its contract (methods with their visibility, subscriptions),
 * its migrations and whether it publishes an outbox. The runner derives its request queue,
 * consumers, retry and dead-letter queues and relay from it.
 */
export interface ServiceDefinition<C extends Contract = Contract> {
  name: string;
  /** Absent for a process that serves no methods (the gateway). */
  contract?: C;
  /** Folder of plain-SQL migrations. */
  migrations?: string;
  /** Publish this schema's outbox (services that write events in transactions). */
  outbox?: boolean;
  /** Views it keeps from the event log (their tables are in its migrations). */
  projections?: readonly Projection[];
  setup(deps: ServiceDeps): Promise<ServiceParts<C>>;
}

/** A service definition whose handlers are checked against its contract. */
export function defineService<C extends Contract>(def: ServiceDefinition<C>): ServiceDefinition {
  return def as unknown as ServiceDefinition;
}

export interface StartOptions {
  /** Every service of the deployment: the publisher declares their consumer-group queues. */
  system: System;
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
  server: RpcServer<Contract> | null;
  consumers: EventConsumer<unknown>[];
  projections: ProjectionRunner[];
  relay: OutboxRelay | null;
  workers: Worker[];
  stop(): Promise<void>;
}

/**
 * Starts one worker of a service: database pool and migrations, broker connection, RPC
 * server, event consumers, projections, outbox relay and its own workers. `stop` shuts down in order: stop
 * taking work (HTTP, requests, events) and finish what is in flight (projections let go of
 * their partitions meanwhile), stop the relay, close publishers and the connection, then the pool.
 */
export async function startService(def: ServiceDefinition, opts: StartOptions): Promise<RunningService> {
  const config = opts.config ?? processConfig();
  const log = (opts.logger ?? rootLogger()).child({ service: def.name });
  const schema = opts.schema ?? def.name;
  const pool = createPool({
    url: databaseUrlFor(config, def.name),
    schema,
    max: config.dbPoolSize,
    applicationName: def.name,
  });
  const namespace = opts.namespace ?? config.amqpNamespace;
  const broker = await brokerUrlFor(config, def.name, namespace)
    .then((url) =>
      Broker.connect({ url, name: def.name, logger: log, namespace, queueType: config.queueType }),
    )
    .catch(async (err) => {
      await pool.end();
      throw err;
    });
  try {
    if (def.migrations && opts.migrate !== false) await migrate(pool, schema, def.migrations, log);
    const rpc = new RpcClient({
      broker,
      logger: log,
      timeoutMs: config.rpcTimeoutMs,
      reconnectWaitMs: config.rpcReconnectWaitMs,
    });
    const publisher = new EventPublisher({
      broker,
      logger: log,
      queues: opts.system.eventQueues,
      log: logRetention(config),
    });
    await Promise.all([rpc.start(), publisher.start()]);
    const deps: ServiceDeps = { config, log, broker, pool, rpc, publisher, schema, system: opts.system };
    const parts = await def.setup(deps);
    const server = def.contract
      ? new RpcServer({
          broker,
          contract: def.contract,
          handlers: withDelay(parts.handlers, config.handlerDelayMs),
          logger: log,
          prefetch: config.prefetch,
          maxBatchLength: config.rpcMaxBatch,
          translateError: translateDatabaseError,
          trustedCaller: trustedCallers(config, namespace, opts.system),
        })
      : null;
    const consumers = def.contract ? subscriptionConsumers(def.contract, parts, deps) : [];
    const projections = (def.projections ?? []).map(
      (projection) =>
        new ProjectionRunner({
          projection,
          broker,
          pool,
          schema,
          partitions: config.eventLogPartitions,
          dbLatencyMs: config.projectionDbLatencyMs,
          logger: log,
          translateError: translateDatabaseError,
          maxAttempts: config.eventMaxAttempts,
          dedupWindowMs: dedupWindowMs(config),
        }),
    );
    const relay = def.outbox ? new OutboxRelay({ pool, publisher, logger: log }) : null;
    const workers = parts.workers ?? [];
    await server?.start();
    for (const c of consumers) await c.start();
    for (const p of projections) await p.start();
    await relay?.start();
    for (const w of workers) await w.start();
    log.info({ pid: process.pid }, 'worker started');
    let stopping: Promise<void> | null = null;
    const stop = () => {
      stopping ??= (async () => {
        // Projections let go of their partitions at once, for the other workers to take over
        // while this one finishes its requests and messages.
        await Promise.all([
          (async () => {
            for (const w of workers) await w.stop();
            await server?.stop();
            await Promise.all(consumers.map((c) => c.stop()));
          })(),
          ...projections.map((p) => p.stop()),
        ]);
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
    return { deps, server, consumers, projections, relay, workers, stop };
  } catch (err) {
    await broker.close();
    await pool.end();
    throw err;
  }
}

/**
 * How long after it happened an event may be in the event log again: a client keeps a play it
 * was never told was taken, and sends it again (same id) as long as the gateway takes its
 * date, PLAY_MAX_AGE_DAYS; a day more covers clocks and queues.
 */
export function dedupWindowMs(config: Config): number {
  return (config.playMaxAgeDays + 1) * 86_400_000;
}

/** The event log's retention and partition count, from the configuration. */
export function logRetention(config: Config): LogSettings {
  return {
    maxAge: config.eventLogMaxAge,
    maxBytes: config.eventLogMaxBytes,
    segmentBytes: config.eventLogSegmentBytes,
    partitions: config.eventLogPartitions,
  };
}

/** One consumer per subscription of the contract, in the service's consumer group. */
function subscriptionConsumers(
  contract: Contract,
  parts: ServiceParts<Contract>,
  { broker, log, config }: ServiceDeps,
): EventConsumer<unknown>[] {
  return Object.entries(contract.subscriptions).map(([name, sub]) => {
    const handle = (parts.subscribers as Record<string, Subscribers<Contract>[string]>)[name];
    if (!handle) throw new Error(`${contract.service}: no subscriber for subscription ${name}`);
    const batchSize = sub.batch?.size ?? 1;
    const latency = config.projectionDbLatencyMs;
    const handler = handle as (events: EventEnvelope<unknown>[], ctx: HandlerContext) => Promise<void>;
    return new EventConsumer<unknown>({
      broker,
      logger: log,
      group: contract.service,
      event: sub.event.type,
      schema: sub.event.schema,
      // Benchmarks only: a batch's round trip to a database on another machine, as projections'.
      handle:
        latency > 0
          ? async (events, ctx) => {
              await new Promise((r) => setTimeout(r, latency));
              await handler(events, ctx);
            }
          : handler,
      batchSize,
      ...(sub.batch ? { batchWaitMs: sub.batch.waitMs } : {}),
      // PREFETCH is per channel (one per consumer); a batch larger than it could never fill.
      prefetch: Math.max(config.prefetch, batchSize),
      maxAttempts: config.eventMaxAttempts,
      ...(sub.retryDelaysMs ? { retryDelaysMs: sub.retryDelaysMs } : {}),
      translateError: translateDatabaseError,
    });
  });
}

/** Entry point of a worker process: start, and stop gracefully on SIGINT/SIGTERM. */
export async function runService(def: ServiceDefinition, system: System): Promise<void> {
  let config: Config;
  try {
    config = processConfig();
  } catch (err) {
    // Before the logger exists (it reads the configuration too): one plain line naming the variable.
    console.error((err as Error).message);
    process.exit(1);
  }
  const log = rootLogger().child({ service: def.name });
  let running: RunningService;
  try {
    running = await startService(def, { system, config });
  } catch (err) {
    log.fatal({ err }, 'could not start');
    process.exit(1);
  }
  // A supervisor (scripts/supervisor.ts) learns from this message, not from a log line, that
  // the process serves; the channel must not keep the process alive.
  if (process.send) {
    process.send({ ready: true });
    process.channel?.unref();
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

/**
 * The handlers, each waiting `ms` first: HANDLER_DELAY_MS, the benchmarks' stand-in for work a
 * request does elsewhere (bench/scale.ts), kept out of the RPC server. 0 leaves them as they are.
 */
function withDelay<H extends Record<string, (...args: never[]) => Promise<unknown>>>(
  handlers: H,
  ms: number,
): H {
  if (ms <= 0) return handlers;
  const delayed: Record<string, (...args: never[]) => Promise<unknown>> = {};
  for (const [name, handler] of Object.entries(handlers)) {
    delayed[name] = async (...args) => {
      await sleep(ms);
      return handler(...args);
    };
  }
  return delayed as H;
}
