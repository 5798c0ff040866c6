/**
 * One registry of error codes. Protocol faults use JSON-RPC's reserved codes; domain faults
 * use the codes below. Errors cross processes as plain `{code, message, data}` and are rebuilt
 * by code on the caller's side (never `instanceof` across the wire, never a stack trace).
 */

export const ErrorCodes = {
  // JSON-RPC 2.0 protocol errors
  PARSE_ERROR: -32700,
  INVALID_REQUEST: -32600,
  METHOD_NOT_FOUND: -32601,
  INVALID_PARAMS: -32602,
  INTERNAL: -32603,
  // Domain errors
  UNAUTHORIZED: 1401,
  FORBIDDEN: 1403,
  NOT_FOUND: 1404,
  CONFLICT: 1409,
  INVALID_INPUT: 1422,
  RATE_LIMITED: 1429,
  UNAVAILABLE: 1503,
  TIMEOUT: 1504,
} as const;

export type ErrorName = keyof typeof ErrorCodes;
export type ErrorCode = (typeof ErrorCodes)[ErrorName];

/** What each code means, for docs and for the registry test. */
export const errorDocs: Record<ErrorName, string> = {
  PARSE_ERROR: 'The request body is not valid JSON.',
  INVALID_REQUEST: 'The body is JSON but not a valid JSON-RPC 2.0 request.',
  METHOD_NOT_FOUND: 'No such method.',
  INVALID_PARAMS: 'Method parameters failed validation; the message names the field.',
  INTERNAL: 'An unexpected fault inside a service; details are in its logs, not in the reply.',
  UNAUTHORIZED: 'Missing, expired or invalid credentials.',
  FORBIDDEN: 'Authenticated, but not allowed to do this.',
  NOT_FOUND: 'The thing asked for does not exist (or is not visible to the caller).',
  CONFLICT: 'The change conflicts with existing state (e.g. a taken username).',
  INVALID_INPUT: 'The input is well-formed but not acceptable (e.g. a password too short).',
  RATE_LIMITED: 'Too many attempts; retry later.',
  UNAVAILABLE: 'A dependency (database, broker, service) is not available right now.',
  TIMEOUT: 'The service did not answer within the call timeout.',
};

export interface WireError {
  code: number;
  message: string;
  data?: unknown;
}

/** Base class of every error that carries a stable code. */
export class AppError extends Error {
  readonly code: number;
  readonly data: unknown;
  constructor(code: number, message: string, data?: unknown) {
    super(message);
    this.code = code;
    this.data = data;
  }
  get codeName(): ErrorName | undefined {
    return codeName(this.code);
  }
  toWire(): WireError {
    return this.data === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, data: this.data };
  }
}

const make = (name: ErrorName) =>
  class extends AppError {
    static readonly code = ErrorCodes[name];
    constructor(message: string, data?: unknown) {
      super(ErrorCodes[name], message, data);
      this.name = `${name
        .toLowerCase()
        .split('_')
        .map((w) => w[0]!.toUpperCase() + w.slice(1))
        .join('')}Error`;
    }
  };

export const ParseError = make('PARSE_ERROR');
export type ParseError = InstanceType<typeof ParseError>;
export const InvalidRequestError = make('INVALID_REQUEST');
export type InvalidRequestError = InstanceType<typeof InvalidRequestError>;
export const MethodNotFoundError = make('METHOD_NOT_FOUND');
export type MethodNotFoundError = InstanceType<typeof MethodNotFoundError>;
export const InvalidParamsError = make('INVALID_PARAMS');
export type InvalidParamsError = InstanceType<typeof InvalidParamsError>;
export const InternalError = make('INTERNAL');
export type InternalError = InstanceType<typeof InternalError>;
export const UnauthorizedError = make('UNAUTHORIZED');
export type UnauthorizedError = InstanceType<typeof UnauthorizedError>;
export const ForbiddenError = make('FORBIDDEN');
export type ForbiddenError = InstanceType<typeof ForbiddenError>;
export const NotFoundError = make('NOT_FOUND');
export type NotFoundError = InstanceType<typeof NotFoundError>;
export const ConflictError = make('CONFLICT');
export type ConflictError = InstanceType<typeof ConflictError>;
export const InvalidInputError = make('INVALID_INPUT');
export type InvalidInputError = InstanceType<typeof InvalidInputError>;
export const RateLimitedError = make('RATE_LIMITED');
export type RateLimitedError = InstanceType<typeof RateLimitedError>;
export const UnavailableError = make('UNAVAILABLE');
export type UnavailableError = InstanceType<typeof UnavailableError>;
export const TimeoutError = make('TIMEOUT');
export type TimeoutError = InstanceType<typeof TimeoutError>;

const classes: Record<ErrorName, new (message: string, data?: unknown) => AppError> = {
  PARSE_ERROR: ParseError,
  INVALID_REQUEST: InvalidRequestError,
  METHOD_NOT_FOUND: MethodNotFoundError,
  INVALID_PARAMS: InvalidParamsError,
  INTERNAL: InternalError,
  UNAUTHORIZED: UnauthorizedError,
  FORBIDDEN: ForbiddenError,
  NOT_FOUND: NotFoundError,
  CONFLICT: ConflictError,
  INVALID_INPUT: InvalidInputError,
  RATE_LIMITED: RateLimitedError,
  UNAVAILABLE: UnavailableError,
  TIMEOUT: TimeoutError,
};

const byCode = new Map<number, ErrorName>(
  (Object.entries(ErrorCodes) as [ErrorName, number][]).map(([name, code]) => [code, name]),
);

export function codeName(code: number): ErrorName | undefined {
  return byCode.get(code);
}

/**
 * Turns anything thrown into a wire error. AppErrors keep their code, message and data;
 * anything else becomes a bare internal error so no internals leave the process.
 */
export function toWireError(err: unknown): WireError {
  if (err instanceof AppError) return err.toWire();
  return { code: ErrorCodes.INTERNAL, message: 'Internal error' };
}

/** Rebuilds a typed error from its wire form; unknown codes stay AppError with that code. */
export function fromWireError(wire: WireError): AppError {
  const name = byCode.get(wire.code);
  const message = typeof wire.message === 'string' ? wire.message : 'Error';
  if (name) return new classes[name](message, wire.data);
  return new AppError(wire.code, message, wire.data);
}

/**
 * Turns a fault of a handler's dependencies (a database down, a value it refused) into the
 * coded error its caller should see; undefined leaves the error as it is. The service runner
 * injects one into RPC servers and event consumers, so the messaging layer knows nothing of
 * what is behind the handlers.
 */
export type ErrorTranslator = (err: unknown) => AppError | undefined;

export function isAppError(err: unknown, name?: ErrorName): err is AppError {
  return err instanceof AppError && (name === undefined || err.code === ErrorCodes[name]);
}

/**
 * Whether a call failed because its service could not answer now (no worker, its database
 * down, no answer within the timeout): asking again later may well succeed, and a caller that
 * can do without the answer may degrade instead of failing.
 */
export function isUnavailable(err: unknown): err is AppError {
  return isAppError(err, 'UNAVAILABLE') || isAppError(err, 'TIMEOUT');
}

/** The issues of a failed schema check (a zod error), in the shape they are read here. */
export interface SchemaIssues {
  issues: readonly { path: readonly PropertyKey[]; message: string }[];
}

/** "field.sub: message; other: message" from a failed schema check; `root` names the whole value. */
export function describeIssues(error: SchemaIssues, root = 'value'): string {
  return error.issues
    .map((issue) => `${issue.path.length > 0 ? issue.path.map(String).join('.') : root}: ${issue.message}`)
    .join('; ');
}
