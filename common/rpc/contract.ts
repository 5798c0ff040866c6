import type { Logger } from 'pino';
import type { z } from 'zod';

/** One method of a service: the schema of its params and (at the type level only) its result. */
export interface MethodSpec<P extends z.ZodType = z.ZodType, R = unknown> {
  readonly params: P;
  /** Phantom: never set at run time, carries the result type. */
  readonly result?: R;
}

/** `method(schema).returns<Result>()` declares one method. */
export function method<P extends z.ZodType>(params: P) {
  return {
    returns<R>(): MethodSpec<P, R> {
      return { params };
    },
  };
}

export type Methods = Record<string, MethodSpec>;

/** The contract of one service, shared by its handlers and its callers. */
export interface Contract<M extends Methods = Methods> {
  readonly service: string;
  readonly methods: M;
}

export function defineContract<const S extends string, M extends Methods>(
  service: S,
  methods: M,
): Contract<M> {
  return { service, methods };
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
}

export interface CallContext {
  traceId: string;
  log: Logger;
  caller: Caller | undefined;
}

export type Handlers<C extends Contract> = {
  [K in MethodName<C>]: (params: ParsedParamsOf<C, K>, ctx: CallContext) => Promise<ResultOf<C, K>>;
};
