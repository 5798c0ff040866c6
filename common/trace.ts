import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';

/**
 * The trace id of the work being done, carried implicitly through async calls so every
 * log line, outgoing RPC and published event of one request shares it.
 */
export interface TraceContext {
  traceId: string;
}

const storage = new AsyncLocalStorage<TraceContext>();

export const TRACE_HEADER = 'x-trace-id';

export function newTraceId(): string {
  return randomUUID();
}

export function currentTraceId(): string | undefined {
  return storage.getStore()?.traceId;
}

export function withTrace<T>(traceId: string | undefined, fn: () => T): T {
  return storage.run({ traceId: traceId ?? newTraceId() }, fn);
}
