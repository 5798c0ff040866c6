import type { Logger } from 'pino';
import type { Broker } from '../../common/amqp/broker.js';
import type { Config } from '../../common/config.js';
import { SYSTEM } from '../../common/contracts/index.js';
import { dropSchema } from '../../common/db/migrate.js';
import type { Pool } from '../../common/db/pool.js';
import { RpcClient } from '../../common/rpc/client.js';
import { type RunningService, type ServiceDefinition, startService } from '../../common/service.js';
import { cleanupBroker, connectBroker, namespace, silentLogger, testPool } from './env.js';
import { EventTap } from './event-tap.js';

export interface HarnessOptions {
  config: Config;
  logger?: Logger;
  /** Event types to record on a tap bound before the service starts. */
  events?: readonly string[];
  /** Another harness's schema, to run a second copy of the service on the same data. */
  schema?: string;
}

/**
 * One real service in its own namespace and schema, with a client, a pool on its schema and
 * an event tap; `close` stops everything it started and deletes the namespace's queues,
 * exchanges and schema.
 */
export class ServiceHarness {
  readonly workers: RunningService[] = [];
  private readonly cleanups: Array<() => Promise<void>> = [];

  private constructor(
    readonly def: ServiceDefinition,
    readonly ns: string,
    readonly schema: string,
    readonly broker: Broker,
    readonly rpc: RpcClient,
    readonly pool: Pool,
    readonly tap: EventTap,
    private readonly opts: HarnessOptions,
  ) {}

  static async open(def: ServiceDefinition, opts: HarnessOptions): Promise<ServiceHarness> {
    const ns = namespace(def.name);
    const schema = opts.schema ?? `${ns}_${def.name}`;
    const broker = await connectBroker(ns);
    const tap = await EventTap.open(broker, opts.events ?? []);
    const rpc = new RpcClient({ broker, logger: silentLogger, timeoutMs: 10_000 });
    await rpc.start();
    const harness = new ServiceHarness(def, ns, schema, broker, rpc, testPool(schema), tap, opts);
    await harness.startWorker();
    return harness;
  }

  /** Starts one more worker of the service on the same queue and schema. */
  async startWorker(): Promise<RunningService> {
    const worker = await startService(this.def, {
      system: SYSTEM,
      config: this.opts.config,
      logger: this.opts.logger ?? silentLogger,
      namespace: this.ns,
      schema: this.schema,
      migrate: this.workers.length === 0,
    });
    this.workers.push(worker);
    return worker;
  }

  /** Runs `fn` at close, before the connections and the namespace go. */
  onClose(fn: () => Promise<void>): void {
    this.cleanups.push(fn);
  }

  /** Stops and removes what it made; `keepSchema` leaves a schema another harness owns. */
  async close(opts: { keepSchema?: boolean } = {}): Promise<void> {
    await Promise.all(this.workers.map((w) => w.stop()));
    for (const fn of this.cleanups) await fn();
    await this.tap.close();
    await this.rpc.stop();
    await this.broker.close();
    if (!opts.keepSchema) await dropSchema(this.pool, this.schema);
    await this.pool.end();
    await cleanupBroker(this.ns);
  }
}
