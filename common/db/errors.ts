import { type AppError, InvalidInputError, UnavailableError } from '../errors.js';

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
 * What a data exception says, in our words: the database's own text (which quotes values and
 * internals) never reaches a client.
 */
const DATA_EXCEPTIONS: Readonly<Record<string, string>> = {
  '22021': 'text must not contain NUL characters',
  '22P05': 'text must not contain NUL characters',
  '22001': 'a text value is too long',
  '22003': 'a number is out of range',
  '22007': 'a date or time is out of range',
  '22008': 'a date or time is out of range',
  '22P02': 'a value has the wrong format',
};

/**
 * What a database error in a handler means to its caller: unreachable is UnavailableError
 * (503, retry later), a value it cannot take is InvalidInputError (400, in our own words);
 * anything else is undefined (an internal error, logged and answered without details).
 * The service runner gives this to its RPC server and event consumers.
 */
export function translateDatabaseError(err: unknown): AppError | undefined {
  if (isConnectionError(err)) {
    return new UnavailableError('the database is not available right now; try again shortly');
  }
  if (isDataException(err)) {
    const code = (err as { code: string }).code;
    return new InvalidInputError(DATA_EXCEPTIONS[code] ?? 'a value is not acceptable');
  }
  return undefined;
}
