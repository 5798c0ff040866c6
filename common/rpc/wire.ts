import type { MessagePropertyHeaders } from 'amqplib';
import type { Caller } from './contract.js';

/** Message headers shared by the RPC client and server. */
export const HEADER_DEADLINE = 'x-deadline';
const HEADER_USER_ID = 'x-user-id';
const HEADER_USERNAME = 'x-username';
const HEADER_SESSION_ID = 'x-session-id';
const HEADER_CLIENT_ADDRESS = 'x-client-address';

/**
 * What a caller says about the call besides its body: on whose behalf it is made and which
 * client the gateway is serving. Services take these as they find them (the gateway sets them
 * from verified credentials and the client's socket), so they are written by `callerHeaders`
 * and read by `readCallerHeaders` only: any rule about whose headers to believe lives there.
 */
export interface CallerHeaders {
  caller: Caller | undefined;
  clientAddress: string | undefined;
}

/** The headers that carry `caller` and `clientAddress` on a request. */
export function callerHeaders({ caller, clientAddress }: Partial<CallerHeaders>): Record<string, string> {
  const headers: Record<string, string> = {};
  if (caller) {
    headers[HEADER_USER_ID] = caller.userId;
    headers[HEADER_USERNAME] = caller.username;
    if (caller.sessionId) headers[HEADER_SESSION_ID] = caller.sessionId;
  }
  if (clientAddress) headers[HEADER_CLIENT_ADDRESS] = clientAddress;
  return headers;
}

const text = (value: unknown): string | undefined =>
  typeof value === 'string' && value.length > 0 ? value : undefined;

/** The caller and client address a request carries (the one place they are read). */
export function readCallerHeaders(headers: MessagePropertyHeaders | undefined): CallerHeaders {
  const h = headers ?? {};
  const userId = text(h[HEADER_USER_ID]);
  const sessionId = text(h[HEADER_SESSION_ID]);
  const caller: Caller | undefined = userId
    ? { userId, username: String(h[HEADER_USERNAME] ?? ''), ...(sessionId ? { sessionId } : {}) }
    : undefined;
  return { caller, clientAddress: text(h[HEADER_CLIENT_ADDRESS]) };
}

export function rpcQueue(service: string): string {
  return `rpc.${service}`;
}

export const DIRECT_REPLY_TO = 'amq.rabbitmq.reply-to';
