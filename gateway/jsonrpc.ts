import { isUtf8 } from 'node:buffer';
import type { NextFunction, Request, Response } from 'express';
import type { Logger } from 'pino';
import {
  AppError,
  type Caller,
  ErrorCodes,
  ForbiddenError,
  type MethodEntry,
  type RpcClient,
  type System,
  UnauthorizedError,
  type WireError,
} from '../common/index.js';
import { type Authenticator, bearerToken, clientAddressOf } from './auth.js';
import { AnswerTooLargeError, stringifyWithin } from './bounded-json.js';
import { sendError } from './errors.js';
import { jsonShapeProblem } from './json-shape.js';

type Id = string | number | null;
type JsonRpcResponse = { jsonrpc: '2.0'; id: Id } & ({ result: unknown } | { error: WireError });

/** What one `/rpc` request may cost: each cap is a clear error beyond it (gateway/README.md). */
export interface RpcCaps {
  /** Most requests (notifications included) in one batch. */
  maxBatch: number;
  /** Most items in any list inside one request's params. */
  maxItems: number;
  /** Largest answer, in bytes of JSON. */
  maxAnswerBytes: number;
}

export interface JsonRpcOptions {
  rpc: RpcClient;
  auth: Authenticator;
  /** Which methods exist and who may call them: `/rpc` exposes public, user and admin methods only. */
  system: System;
  log: Logger;
  caps: RpcCaps;
}

/** The path and length of the first list in `value` longer than `max`, if any. */
function listLongerThan(value: unknown, max: number): { path: string; length: number } | undefined {
  const stack: Array<[unknown, string]> = [[value, 'params']];
  while (stack.length > 0) {
    const [v, path] = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (Array.isArray(v) && v.length > max) return { path, length: v.length };
    for (const [key, child] of Object.entries(v)) stack.push([child, `${path}.${key}`]);
  }
  return undefined;
}

const errorResponse = (id: Id, code: number, message: string): JsonRpcResponse => ({
  jsonrpc: '2.0',
  id,
  error: { code, message },
});

/** A request over one of the caps: HTTP 413 with one JSON-RPC error naming the cap. */
function overCap(res: Response, why: string): void {
  res.status(413).json(errorResponse(null, ErrorCodes.INVALID_REQUEST, `Invalid Request: ${why}`));
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const isId = (v: unknown): v is Id =>
  v === null || typeof v === 'string' || (typeof v === 'number' && Number.isFinite(v));

/** The method, when it exists and outside callers may call it; internal ones do not exist from here. */
function exposed(system: System, method: string): MethodEntry | undefined {
  const entry = system.method(method);
  return entry && entry.spec.visibility !== 'internal' ? entry : undefined;
}

/**
 * `POST /rpc`: JSON-RPC 2.0 (single or batch) passed through to the services. What it exposes
 * is derived from the contracts: public, user and admin methods; internal ones answer -32601 as if
 * they did not exist. Each request is checked here (shape, known method, visibility, caps)
 * and sent to its service's queue concurrently; responses come back in request order.
 * Notifications run only for methods whose contract allows them; none gets a response, run or
 * refused (a refused one is logged), so a batch of notifications only is answered 204 with no
 * body, as the specification says. Protocol faults answer 200 with the spec's error object, as
 * JSON-RPC servers do; failures of the whole HTTP request use HTTP statuses.
 */
export function jsonRpcHandler(opts: JsonRpcOptions) {
  const { rpc, auth, system, log, caps } = opts;

  /** The method a well-formed request may call through `/rpc`, or why it may not. */
  function admit(
    method: string,
    notification: boolean,
    params: unknown,
    caller: Caller | undefined,
  ): { entry: MethodEntry } | { error: WireError } {
    const entry = exposed(system, method);
    if (!entry)
      return {
        error: { code: ErrorCodes.METHOD_NOT_FOUND, message: `Method not found: ${method.slice(0, 100)}` },
      };
    if (notification && !entry.spec.notification) {
      return {
        error: {
          code: ErrorCodes.INVALID_REQUEST,
          message: `Invalid Request: ${method} is not taken as a notification; give the request an id`,
        },
      };
    }
    const long = listLongerThan(params, caps.maxItems);
    if (long) {
      return {
        error: {
          code: ErrorCodes.INVALID_PARAMS,
          message: `Invalid params: ${long.path} has ${long.length} items; /rpc takes at most ${caps.maxItems} per list`,
        },
      };
    }
    const { visibility } = entry.spec;
    if ((visibility === 'user' || visibility === 'admin') && !caller)
      return { error: new UnauthorizedError(`${method} needs a logged-in user`).toWire() };
    // Refused here to spare the trip; the service refuses it too, whoever sends it.
    if (visibility === 'admin' && !caller?.admin)
      return { error: new ForbiddenError(`${method} is for administrators only`).toWire() };
    return { entry };
  }

  async function handle(
    request: unknown,
    caller: Caller | undefined,
    clientAddress: string | undefined,
  ): Promise<JsonRpcResponse | undefined> {
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
    const admitted = admit(method, notification, params, caller);
    if ('error' in admitted) {
      // The specification forbids answering a notification, even one that is refused: it is
      // dropped here, unrun, and the log says why.
      if (notification) {
        log.info({ method: method.slice(0, 100), why: admitted.error.message }, 'notification not run');
        return undefined;
      }
      return { jsonrpc: '2.0', id, error: admitted.error };
    }
    const { entry } = admitted;
    const service = entry.contract.service;
    if (notification) {
      rpc.notify(service, entry.name, params, { caller, clientAddress }).catch((err: unknown) => {
        log.warn({ err, method }, 'could not send notification');
      });
      return undefined;
    }
    try {
      const result = await rpc.call(service, entry.name, params, { caller, clientAddress });
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
    // Too wide or too deep is refused from the bytes, before parsing costs anything; a body
    // nested thousands deep would also overflow the stack when serialized for the service.
    const shape = Buffer.isBuffer(raw) ? jsonShapeProblem(raw) : undefined;
    if (shape?.status === 413) {
      overCap(res, shape.message);
      return;
    }
    if (shape) {
      res.json(errorResponse(null, ErrorCodes.INVALID_REQUEST, `Invalid Request: ${shape.message}`));
      return;
    }
    let body: unknown;
    try {
      if (!Buffer.isBuffer(raw) || !isUtf8(raw)) throw new Error('not UTF-8');
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      res.json(errorResponse(null, ErrorCodes.PARSE_ERROR, 'Parse error: the body is not valid JSON'));
      return;
    }
    const token = bearerToken(req.get('authorization'));
    const caller = token === undefined ? undefined : await auth.bearer(token);
    let text: string | undefined;
    try {
      if (!Array.isArray(body)) {
        const reply = await handle(body, caller, clientAddressOf(req));
        text = reply === undefined ? undefined : stringifyWithin(reply, caps.maxAnswerBytes);
      } else if (body.length === 0) {
        text = JSON.stringify(
          errorResponse(null, ErrorCodes.INVALID_REQUEST, 'Invalid Request: empty batch'),
        );
      } else if (body.length > caps.maxBatch) {
        overCap(res, `a batch holds at most ${caps.maxBatch} requests (this one has ${body.length})`);
        return;
      } else {
        text = await batchAnswer(
          body,
          (request) => handle(request, caller, clientAddressOf(req)),
          caps.maxAnswerBytes,
        );
      }
    } catch (err) {
      if (!(err instanceof AnswerTooLargeError)) throw err;
      overCap(res, `the answer would be more than the ${caps.maxAnswerBytes} bytes /rpc sends; ask for less`);
      return;
    }
    if (text === undefined) {
      res.status(204).end();
      return;
    }
    res.type('application/json').send(text);
  };
}

/**
 * A batch's answer, in request order, written as each call comes back against one budget of
 * `maxBytes`: the first answer that takes the total past it ends the batch with
 * AnswerTooLargeError at once, without waiting for (or keeping) the calls still running.
 * Undefined when every request was a notification.
 */
function batchAnswer(
  requests: readonly unknown[],
  handle: (request: unknown) => Promise<JsonRpcResponse | undefined>,
  maxBytes: number,
): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const texts: Array<string | undefined> = new Array(requests.length);
    let left = requests.length;
    // Brackets, and a comma between any two answers.
    let bytes = 1 + requests.length;
    let done = false;
    requests.forEach((request, i) => {
      handle(request).then(
        (answer) => {
          if (done) return;
          if (answer !== undefined) {
            try {
              texts[i] = stringifyWithin(answer, maxBytes - bytes);
            } catch (err) {
              done = true;
              reject(err);
              return;
            }
            bytes += Buffer.byteLength(texts[i]!);
          }
          if (--left > 0) return;
          done = true;
          const answered = texts.filter((t): t is string => t !== undefined);
          resolve(answered.length > 0 ? `[${answered.join(',')}]` : undefined);
        },
        (err: unknown) => {
          if (done) return;
          done = true;
          reject(err);
        },
      );
    });
  });
}

/** Failures of the whole `/rpc` request (too large, bad token, ...) as one JSON-RPC error. */
export function jsonRpcErrors(log: Logger) {
  return (err: unknown, _req: Request, res: Response, _next: NextFunction): void =>
    sendError(res, err, log, (error) => errorResponse(null, error.code, error.message));
}
