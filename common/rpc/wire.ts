/** Message headers shared by the RPC client and server. */
export const HEADER_DEADLINE = 'x-deadline';
export const HEADER_USER_ID = 'x-user-id';
export const HEADER_USERNAME = 'x-username';
export const HEADER_SESSION_ID = 'x-session-id';
export const HEADER_CLIENT_ADDRESS = 'x-client-address';

export function rpcQueue(service: string): string {
  return `rpc.${service}`;
}

export const DIRECT_REPLY_TO = 'amq.rabbitmq.reply-to';
