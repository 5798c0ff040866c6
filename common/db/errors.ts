import { InvalidInputError, UnavailableError } from '../errors.js';

/** Socket errors: the database cannot be reached, or the connection to it broke. */
const SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** SQLSTATEs of a server shutting down or starting up (57P01-57P03) or out of connections. */
const SERVER_CODES = new Set(['57P01', '57P02', '57P03', '53300']);

/**
 * node-postgres reports a lost connection, a pool connect timeout and a client that lost its
 * connection earlier by message only.
 */
const MESSAGES = /Connection terminated|timeout exceeded when trying to connect|not queryable/i;

/**
 * True when `err` says the database is unreachable rather than that the query is wrong:
 * trying again later may well succeed. SQLSTATE class 08 is "connection exception".
 */
export function isConnectionError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err instanceof AggregateError && err.errors.some(isConnectionError)) return true;
  const code = (err as { code?: unknown }).code;
  if (
    typeof code === 'string' &&
    (SOCKET_CODES.has(code) || SERVER_CODES.has(code) || code.startsWith('08'))
  ) {
    return true;
  }
  return MESSAGES.test(err.message);
}

/** SQLSTATE class 22, "data exception": a value the database cannot take (a NUL byte, a date out of range). */
export function isDataException(err: unknown): boolean {
  const code = err instanceof Error ? (err as { code?: unknown }).code : undefined;
  return typeof code === 'string' && code.startsWith('22');
}

/**
 * What a database error in a handler means to its caller: unreachable is UnavailableError
 * (503, retry later), a value it cannot take is InvalidInputError (400, naming the problem);
 * anything else is returned as is (an internal error).
 */
export function fromDatabaseError(err: unknown): unknown {
  if (isConnectionError(err)) {
    return new UnavailableError('the database is not available right now; try again shortly');
  }
  if (isDataException(err)) return new InvalidInputError(`unacceptable value: ${(err as Error).message}`);
  return err;
}
