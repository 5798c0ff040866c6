import type { Logger } from 'pino';
import type { z } from 'zod';
import type { EventDefinition } from '../events/envelope.js';

/**
 * Who may call a method:
 * - `public`: anyone, logged in or not (the caller, when there is one, is passed along);
 * - `user`: a logged-in caller, acting as themselves only; the server refuses calls without one;
 * - `admin`: a logged-in caller who is an administrator; the server refuses anyone else (1401
 *   without a caller, 1403 for a caller who is not an admin);
 * - `internal`: services only. The gateway never exposes it, whoever asks.
 */
export type Visibility = 'public' | 'user' | 'admin' | 'internal';

/** One method of a service: its params schema, who may call it, and (at the type level only) its result. */
export interface MethodSpec<P extends z.ZodType = z.ZodType, R = unknown, V extends Visibility = Visibility> {
  readonly params: P;
  readonly visibility: V;
  /** Whether outside callers may send it as a JSON-RPC notification (run, never answered). */
  readonly notification: boolean;
  /** Phantom: never set at run time, carries the result type. */
  readonly result?: R;
}

export interface MethodOptions {
  /** Accept it as a JSON-RPC notification from outside callers (default: no). */
  notification?: boolean;
}

function declare<V extends Visibility>(visibility: V) {
  return <P extends z.ZodType>(params: P, opts: MethodOptions = {}) => ({
    returns<R>(): MethodSpec<P, R, V> {
      return { params, visibility, notification: opts.notification ?? false };
    },
  });
}

/** `publicMethod(schema).returns<Result>()`: anyone may call it. */
export const publicMethod = declare('public');
/** `userMethod(schema).returns<Result>()`: a logged-in caller, acting as themselves. */
export const userMethod = declare('user');
/** `adminMethod(schema).returns<Result>()`: a logged-in administrator. */
export const adminMethod = declare('admin');
/** `internalMethod(schema).returns<Result>()`: service to service only. */
export const internalMethod = declare('internal');

export type Methods = Record<string, MethodSpec>;

/** How a subscription's events are handed to its handler. */
export interface BatchPolicy {
  /** Most events in one handler call (one transaction). */
  size: number;
  /**
   * How long a partial batch waits for more events while another is being handled, in ms; with
   * none in hand it goes at once, and it goes as soon as the one in hand is done.
   */
  waitMs: number;
}

/** An event type a service consumes, in its consumer group's own durable queue. */
export interface Subscription<T = unknown> {
  readonly event: EventDefinition<T>;
  /** Unbatched (one event per call) when absent. */
  readonly batch?: BatchPolicy;
  /** Back-off before each retry; the last value repeats (default 200 ms, 1 s, 5 s). */
  readonly retryDelaysMs?: readonly number[];
}

export function subscribe<T>(
  event: EventDefinition<T>,
  opts: Omit<Subscription<T>, 'event'> = {},
): Subscription<T> {
  return { event, ...opts };
}

export type Subscriptions = Record<string, Subscription<unknown>>;

/**
 * The declaration of one service, shared by its handlers and its callers: its methods (params,
 * result, who may call each) and the events it consumes. Request queues, consumer-group queues
 * and what the gateway exposes are all derived from it.
 */
export interface Contract<
  M extends Methods = Methods,
  S extends Subscriptions = Subscriptions,
  N extends string = string,
> {
  readonly service: N;
  readonly methods: M;
  readonly subscriptions: S;
}

export function defineContract<
  const S extends string,
  M extends Methods,
  Subs extends Subscriptions = Record<never, never>,
>(service: S, methods: M, extra: { subscriptions?: Subs } = {}): Contract<M, Subs, S> {
  return { service, methods, subscriptions: extra.subscriptions ?? ({} as Subs) };
}

export type MethodName<C extends Contract> = Extract<keyof C['methods'], string>;
/** What a caller passes (before defaults are applied). */
export type ParamsOf<C extends Contract, K extends MethodName<C>> = z.input<C['methods'][K]['params']>;
/** What a handler receives (validated, defaults applied). */
export type ParsedParamsOf<C extends Contract, K extends MethodName<C>> = z.output<C['methods'][K]['params']>;
export type ResultOf<C extends Contract, K extends MethodName<C>> =
  C['methods'][K] extends MethodSpec<z.ZodType, infer R> ? R : never;

/** The user the gateway authenticated for this call, if any. */
export interface Caller {
  userId: string;
  username: string;
  /** The login session the caller's token belongs to (absent for API keys and Subsonic credentials). */
  sessionId?: string;
  /** Whether the caller is an administrator (as the users service said when it checked the credentials). */
  admin: boolean;
}

export interface CallContext {
  traceId: string;
  log: Logger;
  caller: Caller | undefined;
  /** The address of the client the gateway served, when the call comes from one. */
  clientAddress: string | undefined;
}

/** What a `user` or `admin` method's handler gets: the caller is always there. */
export interface UserCallContext extends CallContext {
  caller: Caller;
}

type ContextOf<Spec> =
  Spec extends MethodSpec<z.ZodType, unknown, 'user' | 'admin'> ? UserCallContext : CallContext;

export type Handlers<C extends Contract> = {
  [K in MethodName<C>]: (
    params: ParsedParamsOf<C, K>,
    ctx: ContextOf<C['methods'][K]>,
  ) => Promise<ResultOf<C, K>>;
};

export type SubscriptionName<C extends Contract> = Extract<keyof C['subscriptions'], string>;

/** The data type of a subscription's events. */
export type SubscribedData<S> = S extends Subscription<infer T> ? T : never;
