import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Express } from 'express';
import type { Logger } from 'pino';
import { SYSTEM } from '../common/contracts/index.js';
import {
  type Broker,
  type Config,
  defineService,
  type EventPublisher,
  type RpcClient,
  type ServiceDefinition,
  type System,
  startService,
  type Worker,
} from '../common/index.js';
import { buildApp, type GatewayOptions } from './app.js';
import { Transcoder } from './transcode.js';

/** How long requests in flight get to finish on shutdown before their connections are cut. */
const DRAIN_MS = 10_000;

/** The HTTP side of the gateway as a worker of the service runner: listen, and drain on stop. */
export class HttpWorker implements Worker {
  private listening: Server | null = null;

  constructor(
    private readonly app: Express,
    private readonly port: number,
    private readonly drainMs: number,
    private readonly log: Logger,
  ) {}

  get server(): Server {
    if (!this.listening) throw new Error('the gateway is not listening');
    return this.listening;
  }

  /** The port actually listened on (useful with port 0). */
  get boundPort(): number {
    return (this.server.address() as AddressInfo).port;
  }

  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      // Express 5 hands listen errors (e.g. EADDRINUSE) to this callback.
      const server = this.app.listen(this.port, (err?: Error) => {
        if (err) return reject(err);
        this.listening = server;
        this.log.info({ port: this.boundPort }, 'gateway listening');
        resolve();
      });
    });
  }

  /** Stops accepting, lets requests in flight finish (at most `drainMs`), then resolves. */
  stop(): Promise<void> {
    const server = this.listening;
    if (!server) return Promise.resolve();
    return new Promise((resolve) => {
      const force = setTimeout(() => server.closeAllConnections(), this.drainMs);
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
}

/**
 * The gateway, one more process of the service runner: it serves no methods of its own; its
 * worker is the HTTP server, started last and stopped first (so requests in flight finish
 * before the RPC client, publisher and connection close). The runner's pool serves only the
 * health check.
 */
export function gatewayService(opts: { options?: GatewayOptions; drainMs?: number } = {}): ServiceDefinition {
  return defineService({
    name: 'gateway',
    async setup({ broker, rpc, publisher, pool, log, config, system }) {
      const transcoder = new Transcoder({
        ffmpeg: config.transcodeFfmpeg,
        maxConcurrent: config.transcodeMaxConcurrent,
        perClient: config.transcodePerListener,
        defaults: { format: config.transcodeFormat, kbps: config.transcodeBitrate },
        log: log.child({ module: 'transcode' }),
      });
      const app = buildApp({
        broker,
        rpc,
        publisher,
        db: pool,
        logger: log,
        config,
        system,
        transcoder,
        options: opts.options,
      });
      return {
        handlers: {},
        subscribers: {},
        workers: [new HttpWorker(app, config.port, opts.drainMs ?? DRAIN_MS, log)],
        // After the HTTP server drained: no ffmpeg outlives the gateway.
        close: () => transcoder.stop(),
      };
    },
  });
}

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

/** Starts a gateway in this process (tests, benchmarks); `gateway/main.ts` runs one as a process. */
export async function startGateway(opts: {
  config: Config;
  logger: Logger;
  /** Broker namespace (tests). */
  namespace?: string;
  options?: GatewayOptions;
  drainMs?: number;
  system?: System;
}): Promise<RunningGateway> {
  const running = await startService(gatewayService({ options: opts.options, drainMs: opts.drainMs }), {
    system: opts.system ?? SYSTEM,
    config: opts.config,
    logger: opts.logger,
    ...(opts.namespace ? { namespace: opts.namespace } : {}),
  });
  const http = running.workers[0] as HttpWorker;
  const { broker, rpc, publisher } = running.deps;
  return { server: http.server, broker, rpc, publisher, port: http.boundPort, stop: running.stop };
}
