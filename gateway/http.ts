import type { Request } from 'express';
import type { z } from 'zod';
import { PAGE_MAX_LIMIT, PAGE_MAX_OFFSET } from '../common/contracts/index.js';
import {
  type Contract,
  describeIssues,
  InvalidParamsError,
  type MethodName,
  type ParsedParamsOf,
} from '../common/index.js';

/**
 * Query strings are strings (or arrays of them when a key repeats): these read one value,
 * convert it and reject anything else with a 400 naming the parameter.
 */
function queryValue(req: Request, name: string): string | undefined {
  const raw = (req.query as Record<string, unknown>)[name];
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string') throw new InvalidParamsError(`${name} must be given once, as a single value`);
  return raw;
}

export function queryString(req: Request, name: string, maxLength = 200): string | undefined {
  const value = queryValue(req, name);
  if (value === undefined || value === '') return undefined;
  if (value.length > maxLength)
    throw new InvalidParamsError(`${name} must be at most ${maxLength} characters`);
  return value;
}

export function queryInt(req: Request, name: string, min: number, max: number): number | undefined {
  const value = queryValue(req, name);
  if (value === undefined || value === '') return undefined;
  const n = /^\d{1,9}$/.test(value) ? Number(value) : Number.NaN;
  if (!(n >= min && n <= max)) {
    throw new InvalidParamsError(`${name} must be an integer from ${min} to ${max}`);
  }
  return n;
}

export function queryEnum<const T extends string>(
  req: Request,
  name: string,
  allowed: readonly T[],
): T | undefined {
  const value = queryValue(req, name);
  if (value === undefined || value === '') return undefined;
  if (!(allowed as readonly string[]).includes(value)) {
    throw new InvalidParamsError(`${name} must be one of ${allowed.join(', ')}`);
  }
  return value as T;
}

/** `limit` and `offset` for list routes. */
export function paging(req: Request, maxLimit = PAGE_MAX_LIMIT): { limit?: number; offset?: number } {
  // Undefined values vanish in JSON, so the service's defaults apply.
  return {
    limit: queryInt(req, 'limit', 1, maxLimit),
    offset: queryInt(req, 'offset', 0, PAGE_MAX_OFFSET),
  };
}

/** A path segment that must be an integer from 0 to `max` (e.g. a playlist position). */
export function pathInt(req: Request, name: string, max: number): number {
  const value = req.params[name];
  const n = typeof value === 'string' && /^\d{1,9}$/.test(value) ? Number(value) : Number.NaN;
  if (!(n <= max)) throw new InvalidParamsError(`${name} must be an integer from 0 to ${max}`);
  return n;
}

/** The JSON object body of a request (a missing or non-object body is a 400). */
export function jsonBody(req: Request): Record<string, unknown> {
  const body: unknown = req.body;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new InvalidParamsError('request body must be a JSON object (Content-Type: application/json)');
  }
  return body as Record<string, unknown>;
}

/** The body checked against `schema`, with a 400 naming the offending field. */
export function parseBody<S extends z.ZodType>(req: Request, schema: S): z.output<S> {
  const parsed = schema.safeParse(jsonBody(req));
  if (!parsed.success)
    throw new InvalidParamsError(`invalid body: ${describeIssues(parsed.error, 'params')}`);
  return parsed.data;
}

/** Input checked against a contract method's own schema, so a bad request is a 400 without a round trip. */
export function contractParams<C extends Contract, K extends MethodName<C>>(
  contract: C,
  method: K,
  input: unknown,
): ParsedParamsOf<C, K> {
  const parsed = contract.methods[method]!.params.safeParse(input);
  if (!parsed.success)
    throw new InvalidParamsError(`invalid request: ${describeIssues(parsed.error, 'params')}`);
  return parsed.data as ParsedParamsOf<C, K>;
}
