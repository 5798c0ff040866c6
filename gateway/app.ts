import { isUtf8 } from 'node:buffer';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { PlayAllowance, type PlayDateWindow } from '../common/contracts/index.js';
import {
  type Broker,
  type Config,
  ErrorCodes,
  type EventPublisher,
  NotFoundError,
  type RpcClient,
  type System,
} from '../common/index.js';
import { Authenticator, authenticate } from './auth.js';
import { stringifyWithin } from './bounded-json.js';
import { CoverCache } from './covers.js';
import { allowedOrigins, refuseCrossSiteChanges } from './cross-site.js';
import { HttpError, sendError } from './errors.js';
import {
  CachedHealth,
  checkHealth,
  type Database,
  HEALTH_CACHE_MS,
  opsRefusal,
  opsTokenGiven,
} from './health.js';
import { checkJsonShape } from './json-shape.js';
import { jsonRpcErrors, jsonRpcHandler } from './jsonrpc.js';
import { GatewayMetrics } from './metrics.js';
import { activityRoutes } from './routes/activity.js';
import { adminRoutes } from './routes/admin.js';
import { catalogRoutes } from './routes/catalog.js';
import type { RouteContext } from './routes/context.js';
import { coverRoutes } from './routes/covers.js';
import { playlistRoutes } from './routes/playlists.js';
import { scrobblingRoutes } from './routes/scrobbling.js';
import { shareRoutes } from './routes/shares.js';
import { streamRoutes } from './routes/stream.js';
import { userRoutes } from './routes/users.js';
import { bindServices } from './services.js';
import { buildSubsonicRouter } from './subsonic/index.js';
import { traceRequests } from './tracing.js';
import type { Transcoder } from './transcode.js';
import { webPlayer } from './web.js';

/** Largest request body, in bytes. */
const BODY_LIMIT_BYTES = 1024 * 1024;

export interface GatewayOptions {
  /** Timeout of each health check (default 1000 ms). */
  healthTimeoutMs?: number;
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
  config: Config;
  /** The services behind the gateway: what `/rpc` exposes is derived from their contracts. */
  system: System;
  /** Runs ffmpeg for transcoded streams (REST and Subsonic); its owner stops it. */
  transcoder: Transcoder;
  options?: GatewayOptions;
}

/** Rejects bodies that are not UTF-8 before JSON parsing would quietly replace the bad bytes. */
function checkUtf8(_req: unknown, _res: unknown, buf: Buffer, encoding: string): void {
  if (encoding.toLowerCase().replace('-', '') === 'utf8' && !isUtf8(buf)) {
    throw Object.assign(new Error('request body is not valid UTF-8'), { type: 'encoding.invalid' });
  }
}

/** express's `trust proxy` from TRUST_PROXY: false, true, a hop count, or addresses. */
function trustProxy(setting: string): boolean | number | string {
  if (setting === 'true') return true;
  if (setting === 'false') return false;
  return /^\d+$/.test(setting) ? Number(setting) : setting;
}

/** How long a /metrics scrape waits for the stats projections' lag (left out after that). */
const LAG_TIMEOUT_MS = 5000;

/** Builds the gateway's express app; listening is the caller's business (tests use port 0). */
export function buildApp(deps: GatewayDeps): express.Express {
  const { config } = deps;
  const log = deps.logger.child({ module: 'gateway' });
  const opts = deps.options ?? {};
  const metrics = new GatewayMetrics();
  metrics.watch(deps.rpc, deps.publisher);
  // One set of service clients and one authenticator for REST, /rpc and Subsonic.
  const services = bindServices(deps.rpc);
  metrics.watchLag(() => services.stats.call('projectionLag', {}, { timeoutMs: LAG_TIMEOUT_MS }));
  const auth = new Authenticator(services.users, { ttlMs: config.tokenCacheTtlMs });
  const playDates: PlayDateWindow = {
    maxAgeMs: config.playMaxAgeDays * 86_400_000,
    maxAheadMs: config.playMaxAheadSeconds * 1000,
  };
  // One cache of generated covers for the REST route and the Subsonic API alike.
  const covers = new CoverCache();
  const origins = allowedOrigins(config.allowedOrigins);
  // One allowance of plays per account for REST and Subsonic alike.
  const plays = new PlayAllowance(config.playsPerHour);

  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  // Who the client is (login throttling counts by it): the socket's address unless TRUST_PROXY names proxies.
  app.set('trust proxy', trustProxy(config.trustProxy));
  app.use(traceRequests(log, metrics));
  // Every JSON answer is written against the answer cap and stops once it passes it (413
  // naming the cap), so no route builds an answer of tens of MB, however large its data.
  app.use((_req: Request, res: Response, next: NextFunction) => {
    res.json = (body: unknown) => {
      const text = stringifyWithin(body, config.rpcMaxAnswerBytes);
      if (!res.get('Content-Type')) res.type('application/json');
      return res.send(text);
    };
    next();
  });

  // The plain status is open and cheap: one round of checks a second however often it is
  // asked. The checks themselves and the metrics are for operators (OPS_TOKEN).
  const health = new CachedHealth(() => checkHealth(deps, opts.healthTimeoutMs ?? 1000), HEALTH_CACHE_MS);
  const operator = (req: Request) => opsTokenGiven(req, config.opsToken);
  app.get('/health', async (req, res) => {
    const report = await health.get();
    res.status(report.status === 'ok' ? 200 : 503).json(operator(req) ? report : { status: report.status });
  });

  app.get('/metrics', async (req, res) => {
    if (!operator(req)) throw opsRefusal(config.opsToken);
    res.type(metrics.contentType).send(await metrics.text());
  });

  app.post(
    '/rpc',
    refuseCrossSiteChanges(origins),
    // JSON only: a form or text/plain body is what another site's page can send without asking.
    (req: Request, _res: Response, next: NextFunction) => {
      if (!req.is('application/json')) {
        throw new HttpError(
          415,
          ErrorCodes.INVALID_REQUEST,
          '/rpc takes only Content-Type: application/json',
        );
      }
      next();
    },
    // Read as bytes: the handler checks the shape and answers bad JSON with -32700 itself.
    express.raw({ type: () => true, limit: BODY_LIMIT_BYTES }),
    jsonRpcHandler({
      rpc: deps.rpc,
      auth,
      system: deps.system,
      log,
      caps: {
        maxBatch: config.rpcMaxBatch,
        maxItems: config.rpcMaxItems,
        maxAnswerBytes: config.rpcMaxAnswerBytes,
      },
    }),
    jsonRpcErrors(log),
  );

  // OpenSubsonic for existing players: its own credentials (u/t/s, p, apiKey) and response format.
  app.use(
    '/rest',
    buildSubsonicRouter({
      services,
      auth,
      publisher: deps.publisher,
      logger: log,
      publishTimeoutMs: config.rpcTimeoutMs,
      playDates,
      bodyLimitBytes: BODY_LIMIT_BYTES,
      transcoder: deps.transcoder,
      covers,
      allowedOrigins: origins,
      plays,
    }),
  );

  const api = express.Router();
  api.use(refuseCrossSiteChanges(origins));
  api.use(
    express.json({
      limit: BODY_LIMIT_BYTES,
      verify: (req, res, buf, encoding) => {
        checkUtf8(req, res, buf, encoding);
        checkJsonShape(req, res, buf);
      },
    }),
  );
  api.use(authenticate(auth));
  const context: RouteContext = {
    router: api,
    services,
    auth,
    publisher: deps.publisher,
    log,
    publishTimeoutMs: config.rpcTimeoutMs,
    playDates,
    transcoder: deps.transcoder,
    covers,
    plays,
  };
  for (const routes of [
    userRoutes,
    catalogRoutes,
    streamRoutes,
    coverRoutes,
    activityRoutes,
    playlistRoutes,
    shareRoutes,
    scrobblingRoutes,
    adminRoutes,
  ]) {
    routes(context);
  }
  // Mounted at the root with full paths, so `req.route.path` is the whole pattern for metrics.
  app.use(api);

  // The web player at `/`: its built files, and its page for any address a browser opens.
  app.use(webPlayer());

  app.use(() => {
    throw new NotFoundError('no such route');
  });
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => sendError(res, err, log));
  return app;
}
