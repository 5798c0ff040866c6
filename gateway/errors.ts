import type { Response } from 'express';
import './locals.js';
import type { Logger } from 'pino';
import {
  AppError,
  codeName,
  ErrorCodes,
  type ErrorName,
  isAppError,
  isUnavailable,
} from '../common/index.js';

/** The one map from error code to HTTP status; typed so a new code fails to compile until mapped. */
export const HTTP_STATUS: Readonly<Record<ErrorName, number>> = Object.freeze({
  PARSE_ERROR: 400,
  INVALID_REQUEST: 400,
  METHOD_NOT_FOUND: 404,
  INVALID_PARAMS: 400,
  INTERNAL: 500,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  INVALID_INPUT: 400,
  RATE_LIMITED: 429,
  UNAVAILABLE: 503,
  TIMEOUT: 503,
});

/** Seconds a client is told to wait before retrying when a dependency is down or slow. */
export const RETRY_AFTER_SECONDS = 2;

/** The wait an error names itself (`data.retryAfterSeconds`, e.g. login throttling), else the default. */
function retryAfter(err: AppError): number {
  const named = (err.data as { retryAfterSeconds?: unknown } | undefined)?.retryAfterSeconds;
  return typeof named === 'number' && Number.isInteger(named) && named > 0 ? named : RETRY_AFTER_SECONDS;
}

/** Errors whose answers carry `Retry-After`: trying again later may well succeed. */
const retryable = (err: AppError): boolean => isUnavailable(err) || isAppError(err, 'RATE_LIMITED');

/**
 * An error raised by the gateway itself whose HTTP status is not its code's usual one,
 * e.g. a body too large (413) is an invalid request, but 400 would hide why.
 */
export class HttpError extends AppError {
  constructor(
    readonly status: number,
    code: number,
    message: string,
  ) {
    super(code, message);
    this.name = 'HttpError';
  }
}

export function httpStatus(code: number): number {
  const name = codeName(code);
  return name ? HTTP_STATUS[name] : 500;
}

export interface HttpErrorReply {
  status: number;
  body: { error: { code: number; message: string } };
  retryAfter: number | undefined;
}

/**
 * What a client sees for `err`: coded errors keep their code and message; anything else is a
 * generic 500 (the details go to the log with the trace id, never to the client).
 */
export function toHttpError(thrown: unknown): HttpErrorReply {
  const err = bodyError(thrown) ?? thrown;
  if (err instanceof AppError) {
    const status = err instanceof HttpError ? err.status : httpStatus(err.code);
    const generic = err.code === ErrorCodes.INTERNAL || status >= 500;
    const message = generic && !retryable(err) ? 'Internal error' : err.message;
    return {
      status,
      body: { error: { code: err.code, message } },
      retryAfter: retryable(err) ? retryAfter(err) : undefined,
    };
  }
  return {
    status: 500,
    body: { error: { code: ErrorCodes.INTERNAL, message: 'Internal error' } },
    retryAfter: undefined,
  };
}

type ErrorBody = HttpErrorReply['body']['error'];

/**
 * Writes the error answer (by default `{error: {code, message}}`); unexpected errors are
 * logged with the request's trace id, and what the client sees stays generic.
 */
export function sendError(
  res: Response,
  err: unknown,
  log: Logger,
  shape: (error: ErrorBody) => unknown = (error) => ({ error }),
): void {
  const reply = toHttpError(err);
  if (reply.status >= 500 && reply.retryAfter === undefined) {
    log.error({ err, traceId: res.locals.traceId }, 'request failed');
  }
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (reply.retryAfter !== undefined) res.set('Retry-After', String(reply.retryAfter));
  res.status(reply.status).json(shape(reply.body.error));
}

/** Body-parser failures (they carry `type` and `status`) as coded errors. */
export function bodyError(err: unknown): AppError | undefined {
  // Our own checks of a body (its shape, its encoding) keep their words and status.
  if (err instanceof AppError) return err;
  if (typeof err !== 'object' || err === null || !('type' in err)) return undefined;
  const { type, status } = err as { type: unknown; status?: unknown };
  switch (type) {
    case 'entity.parse.failed':
      return new AppError(ErrorCodes.PARSE_ERROR, 'request body is not valid JSON');
    case 'encoding.invalid':
      return new AppError(ErrorCodes.PARSE_ERROR, 'request body is not valid UTF-8');
    case 'entity.too.large':
      return new HttpError(413, ErrorCodes.INVALID_REQUEST, 'request body is too large');
    default:
      if (typeof status === 'number' && status >= 400 && status < 500) {
        return new HttpError(status, ErrorCodes.INVALID_REQUEST, `unreadable request body (${String(type)})`);
      }
      return undefined;
  }
}
