import type { NextFunction, Request, Response } from 'express';
import type { Logger } from 'pino';
import { newTraceId, withTrace } from '../common/index.js';
import type { GatewayMetrics } from './metrics.js';
import './locals.js';

export const REQUEST_ID_HEADER = 'X-Request-Id';

/**
 * A client's id is kept only when it is one this gateway could have made (a random UUID, as
 * `newTraceId` makes, in its lower-case form): anything else gets a new one, so no client can
 * write chosen text into the logs or pass itself off as another request's trace.
 */
const OUR_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** The route pattern (never the raw path, which would give every track its own metric). */
function routeOf(req: Request): string {
  const path = (req.route as { path?: unknown } | undefined)?.path;
  return typeof path === 'string' ? `${req.baseUrl}${path}` : 'unmatched';
}

/**
 * First middleware: picks the trace id (the client's well-formed `X-Request-Id` or a new one), echoes it,
 * runs the rest of the request inside it so RPC calls, events and log lines carry it, and
 * when the response is done writes one log line and the HTTP metrics.
 */
export function traceRequests(log: Logger, metrics: GatewayMetrics) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const started = performance.now();
    const given = req.get(REQUEST_ID_HEADER);
    const traceId = given !== undefined && OUR_ID.test(given) ? given : newTraceId();
    res.locals.traceId = traceId;
    res.set(REQUEST_ID_HEADER, traceId);
    res.once('close', () => {
      const ms = performance.now() - started;
      const route = routeOf(req);
      const status = res.writableFinished ? res.statusCode : 499;
      metrics.request(req.method, route, status, ms);
      const line = { traceId, method: req.method, route, status, ms: Math.round(ms * 10) / 10 };
      if (status >= 500) log.warn(line, 'request');
      else log.info(line, 'request');
    });
    withTrace(traceId, next);
  };
}
