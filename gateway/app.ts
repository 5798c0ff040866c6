import { isUtf8 } from 'node:buffer';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import type { Broker } from '../common/amqp/broker.js';
import { NotFoundError } from '../common/errors.js';
import type { EventPublisher } from '../common/events/publisher.js';
import type { RpcClient } from '../common/rpc/client.js';
import { authenticate, type TokenCacheOptions, TokenVerifier } from './auth.js';
import { sendError } from './errors.js';
import { checkHealth, type Database } from './health.js';
import { jsonRpcErrors, jsonRpcHandler } from './jsonrpc.js';
import { GatewayMetrics } from './metrics.js';
import { activityRoutes } from './routes/activity.js';
import { catalogRoutes } from './routes/catalog.js';
import type { RouteContext } from './routes/context.js';
import { playlistRoutes } from './routes/playlists.js';
import { streamRoutes } from './routes/stream.js';
import { userRoutes } from './routes/users.js';
import { bindServices } from './services.js';
import { buildSubsonicRouter } from './subsonic/index.js';
import { traceRequests } from './tracing.js';

export interface GatewayOptions {
  /** Largest request body, in bytes (default 1 MiB). */
  bodyLimitBytes?: number;
  /** Most requests in one JSON-RPC batch (default 100). */
  maxBatch?: number;
  /** Timeout of each health check (default 1000 ms). */
  healthTimeoutMs?: number;
  /** Longest wait for the broker to confirm an event (default 5000 ms). */
  publishTimeoutMs?: number;
  tokenCache?: TokenCacheOptions;
}

export interface GatewayDeps {
  broker: Broker;
  /** Started RPC client; the gateway observes it for metrics. */
  rpc: RpcClient;
  /** Started event publisher; the gateway observes it for metrics. */
  publisher: EventPublisher;
  /** Used only by the health check. */
  db: Database;
  logger: Logger;
  options?: GatewayOptions;
}

/** Rejects bodies that are not UTF-8 before JSON parsing would quietly replace the bad bytes. */
function checkUtf8(_req: unknown, _res: unknown, buf: Buffer, encoding: string): void {
  if (encoding.toLowerCase().replace('-', '') === 'utf8' && !isUtf8(buf)) {
    throw Object.assign(new Error('request body is not valid UTF-8'), { type: 'encoding.invalid' });
  }
}

/** Builds the gateway's express app; listening is the caller's business (tests use port 0). */
export function buildApp(deps: GatewayDeps): express.Express {
  const log = deps.logger.child({ module: 'gateway' });
  const opts = deps.options ?? {};
  const bodyLimit = opts.bodyLimitBytes ?? 1024 * 1024;
  const metrics = new GatewayMetrics();
  metrics.watch(deps.rpc, deps.publisher);
  const services = bindServices(deps.rpc);
  const verifier = new TokenVerifier(services.users, opts.tokenCache);

  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  app.use(traceRequests(log, metrics));

  app.get('/health', async (_req, res) => {
    const report = await checkHealth(deps, opts.healthTimeoutMs ?? 1000);
    res.status(report.status === 'ok' ? 200 : 503).json(report);
  });

  app.get('/metrics', async (_req, res) => {
    res.type(metrics.contentType).send(await metrics.text());
  });

  app.post(
    '/rpc',
    // Read as bytes whatever the Content-Type: the handler answers bad JSON with -32700 itself.
    express.raw({ type: () => true, limit: bodyLimit }),
    jsonRpcHandler({ rpc: deps.rpc, verifier, log, maxBatch: opts.maxBatch ?? 100 }),
    jsonRpcErrors(log),
  );

  // OpenSubsonic for existing players: its own auth (u/t/s, p, apiKey) and response format.
  app.use(
    '/rest',
    buildSubsonicRouter({
      rpc: deps.rpc,
      publisher: deps.publisher,
      logger: log,
      config: { rpcTimeoutMs: opts.publishTimeoutMs ?? 5000 },
    }),
  );

  const api = express.Router();
  api.use(express.json({ limit: bodyLimit, verify: checkUtf8 }));
  api.use(authenticate(verifier));
  const context: RouteContext = {
    router: api,
    services,
    publisher: deps.publisher,
    log,
    publishTimeoutMs: opts.publishTimeoutMs ?? 5000,
  };
  for (const routes of [userRoutes, catalogRoutes, streamRoutes, activityRoutes, playlistRoutes]) {
    routes(context);
  }
  // Mounted at the root with full paths, so `req.route.path` is the whole pattern for metrics.
  app.use(api);

  app.use(() => {
    throw new NotFoundError('no such route');
  });
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => sendError(res, err, log));
  return app;
}
