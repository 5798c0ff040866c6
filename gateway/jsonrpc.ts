import { isUtf8 } from 'node:buffer';
import type { NextFunction, Request, Response } from 'express';
import type { Logger } from 'pino';
import { AppError, ErrorCodes, ForbiddenError, type WireError } from '../common/errors.js';
import type { RpcClient } from '../common/rpc/client.js';
import type { Caller } from '../common/rpc/contract.js';
import { bearerToken, type TokenVerifier } from './auth.js';
import { sendError } from './errors.js';
import { CONTRACTS } from './services.js';

/**
 * Methods that exist on the bus but are not for outside callers, with the reason. They answer
 * -32601 (method not found) from `/rpc`, exactly as if they did not exist.
 */
export const DENIED_METHODS: ReadonlyMap<string, string> = new Map([
  ['catalog.getTrackFile', 'answers with file paths on the server; clients use GET /api/tracks/:id/stream'],
  ['history.export', "pages through every user's plays, for rebuilding statistics"],
  ['users.subsonicAuth', "the Subsonic endpoint's credential check; clients log in with users.login"],
]);

/**
 * Methods whose optional `userId` lets internal callers read any user's data; from outside it
 * may only name the caller's own id (anyone's listening history is not public).
 */
export const OWN_USER_ONLY: ReadonlySet<string> = new Set(['history.recent', 'stats.user']);

type Id = string | number | null;
type JsonRpcResponse = { jsonrpc: '2.0'; id: Id } & ({ result: unknown } | { error: WireError });

export interface JsonRpcOptions {
  rpc: RpcClient;
  verifier: TokenVerifier;
  log: Logger;
  /** Most requests accepted in one batch. */
  maxBatch: number;
}

/**
 * Deepest nesting accepted in a `/rpc` body. Real params are a few levels deep; a body nested
 * thousands deep would overflow the stack when it is serialized again for the service.
 */
const MAX_DEPTH = 64;

/** Whether `value` has arrays or objects nested deeper than `max` (checked without recursion). */
function nestedDeeperThan(value: unknown, max: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (depth > max) return true;
    for (const child of Object.values(v)) stack.push([child, depth + 1]);
  }
  return false;
}

const errorResponse = (id: Id, code: number, message: string): JsonRpcResponse => ({
  jsonrpc: '2.0',
  id,
  error: { code, message },
});

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const isId = (v: unknown): v is Id =>
  v === null || typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v));

/** `service.method` split into a known service and one of its methods, unless unknown or denied. */
function route(method: string): { service: string; name: string } | undefined {
  const dot = method.indexOf('.');
  const service = method.slice(0, dot);
  const name = method.slice(dot + 1);
  const contract = dot > 0 ? CONTRACTS[service] : undefined;
  if (!contract || !Object.hasOwn(contract.methods, name) || DENIED_METHODS.has(method)) return undefined;
  return { service, name };
}

/**
 * `POST /rpc`: JSON-RPC 2.0 (single or batch) passed through to the services. Each request is
 * checked here (shape, known method, denylist) and sent to its service's queue concurrently;
 * responses come back in request order, notifications get none (204 when nothing is left).
 * Protocol faults answer 200 with the spec's error object, as JSON-RPC servers do; only
 * transport-level failures (body too large, bad token, users service down) use HTTP statuses.
 */
export function jsonRpcHandler(opts: JsonRpcOptions) {
  const { rpc, verifier, log, maxBatch } = opts;

  async function handle(request: unknown, caller: Caller | undefined): Promise<JsonRpcResponse | undefined> {
    if (!isObject(request)) return errorResponse(null, ErrorCodes.INVALID_REQUEST, 'Invalid Request');
    const { jsonrpc, method, params } = request;
    const notification = !Object.hasOwn(request, 'id');
    const id = isId(request.id) ? request.id : null;
    if (
      jsonrpc !== '2.0' ||
      typeof method !== 'string' ||
      (params !== undefined && (typeof params !== 'object' || params === null)) ||
      (!notification && !isId(request.id))
    ) {
      return errorResponse(id, ErrorCodes.INVALID_REQUEST, 'Invalid Request');
    }
    const target = route(method);
    if (!target) {
      return notification
        ? undefined
        : errorResponse(id, ErrorCodes.METHOD_NOT_FOUND, `Method not found: ${method}`);
    }
    if (OWN_USER_ONLY.has(method) && isObject(params) && params.userId !== undefined) {
      if (params.userId !== caller?.userId) {
        const denied = new ForbiddenError(`${method} may only be asked about the logged-in user`);
        return notification ? undefined : { jsonrpc: '2.0', id, error: denied.toWire() };
      }
    }
    if (notification) {
      rpc.notify(target.service, target.name, params, { caller }).catch((err: unknown) => {
        log.warn({ err, method }, 'could not send notification');
      });
      return undefined;
    }
    try {
      const result = await rpc.call(target.service, target.name, params, { caller });
      return { jsonrpc: '2.0', id, result: result ?? null };
    } catch (err) {
      if (err instanceof AppError && err.code !== ErrorCodes.INTERNAL)
        return { jsonrpc: '2.0', id, error: err.toWire() };
      if (!(err instanceof AppError)) log.error({ err, method }, 'rpc passthrough failed');
      return errorResponse(id, ErrorCodes.INTERNAL, 'Internal error');
    }
  }

  return async (req: Request, res: Response): Promise<void> => {
    const raw: unknown = req.body;
    let body: unknown;
    try {
      if (!Buffer.isBuffer(raw) || !isUtf8(raw)) throw new Error('not UTF-8');
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      res.json(errorResponse(null, ErrorCodes.PARSE_ERROR, 'Parse error: the body is not valid JSON'));
      return;
    }
    if (nestedDeeperThan(body, MAX_DEPTH)) {
      res.json(
        errorResponse(
          null,
          ErrorCodes.INVALID_REQUEST,
          `Invalid Request: JSON nested deeper than ${MAX_DEPTH} levels`,
        ),
      );
      return;
    }
    const token = bearerToken(req.get('authorization'));
    const caller = token === undefined ? undefined : await verifier.verify(token);
    let reply: JsonRpcResponse | JsonRpcResponse[] | undefined;
    if (Array.isArray(body)) {
      if (body.length === 0) {
        reply = errorResponse(null, ErrorCodes.INVALID_REQUEST, 'Invalid Request: empty batch');
      } else if (body.length > maxBatch) {
        reply = errorResponse(
          null,
          ErrorCodes.INVALID_REQUEST,
          `Invalid Request: batch larger than ${maxBatch}`,
        );
      } else {
        const answers = await Promise.all(body.map((request) => handle(request, caller)));
        const responses = answers.filter((a): a is JsonRpcResponse => a !== undefined);
        reply = responses.length > 0 ? responses : undefined;
      }
    } else {
      reply = await handle(body, caller);
    }
    if (reply === undefined) res.status(204).end();
    else res.json(reply);
  };
}

/** Failures of the whole `/rpc` request (too large, bad token, ...) as one JSON-RPC error. */
export function jsonRpcErrors(log: Logger) {
  return (err: unknown, _req: Request, res: Response, _next: NextFunction): void =>
    sendError(res, err, log, (error) => errorResponse(null, error.code, error.message));
}
