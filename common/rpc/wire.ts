import type { MessagePropertyHeaders } from 'amqplib';
import type { Caller } from './contract.js';

/** Message headers shared by the RPC client and server. */
export const HEADER_DEADLINE = 'x-deadline';
const HEADER_USER_ID = 'x-user-id';
const HEADER_USERNAME = 'x-username';
const HEADER_SESSION_ID = 'x-session-id';
const HEADER_ADMIN = 'x-user-admin';
const HEADER_CLIENT_ADDRESS = 'x-client-address';

/**
 * What a caller says about the call besides its body: on whose behalf it is made and which
 * client the gateway is serving. The gateway sets them from verified credentials and the
 * client's socket; they are written by `callerHeaders` and read by `readCallerHeaders` only,
 * where the rule about whose headers to believe lives: only a request whose `user-id` property
 * is a trusted broker user's (the gateway's, or a service's acting for the caller it serves)
 * carries them. The broker refuses a publish whose
 * `user-id` is not the publishing connection's own user, so nobody else can set it.
 */
export interface CallerHeaders {
  caller: Caller | undefined;
  clientAddress: string | undefined;
  /**
   * The request carried a caller or a client address but was not sent by the trusted user:
   * both were ignored (the name of the user who sent it, or `(none)`).
   */
  ignoredFrom?: string;
}

/** The headers that carry `caller` and `clientAddress` on a request. */
export function callerHeaders({ caller, clientAddress }: Partial<CallerHeaders>): Record<string, string> {
  const headers: Record<string, string> = {};
  if (caller) {
    headers[HEADER_USER_ID] = caller.userId;
    headers[HEADER_USERNAME] = caller.username;
    if (caller.sessionId) headers[HEADER_SESSION_ID] = caller.sessionId;
    if (caller.admin) headers[HEADER_ADMIN] = 'true';
  }
  if (clientAddress) headers[HEADER_CLIENT_ADDRESS] = clientAddress;
  return headers;
}

const text = (value: unknown): string | undefined =>
  typeof value === 'string' && value.length > 0 ? value : undefined;

/**
 * The caller and client address a request carries (the one place they are read): believed only
 * when the request's broker-checked `user-id` property (`sender`) is `trusted` (one user, or any
 * of a set).
 */
export function readCallerHeaders(
  headers: MessagePropertyHeaders | undefined,
  sender: string | undefined,
  trusted: string | ReadonlySet<string>,
): CallerHeaders {
  const h = headers ?? {};
  const userId = text(h[HEADER_USER_ID]);
  const clientAddress = text(h[HEADER_CLIENT_ADDRESS]);
  const believed =
    typeof trusted === 'string' ? sender === trusted : sender !== undefined && trusted.has(sender);
  if (!believed) {
    const claimed = userId !== undefined || clientAddress !== undefined;
    return {
      caller: undefined,
      clientAddress: undefined,
      ...(claimed ? { ignoredFrom: sender ?? '(none)' } : {}),
    };
  }
  const sessionId = text(h[HEADER_SESSION_ID]);
  const caller: Caller | undefined = userId
    ? {
        userId,
        username: String(h[HEADER_USERNAME] ?? ''),
        ...(sessionId ? { sessionId } : {}),
        admin: h[HEADER_ADMIN] === 'true',
      }
    : undefined;
  return { caller, clientAddress };
}

export function rpcQueue(service: string): string {
  return `rpc.${service}`;
}

export const DIRECT_REPLY_TO = 'amq.rabbitmq.reply-to';
