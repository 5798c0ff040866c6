import { createHmac, timingSafeEqual } from 'node:crypto';
import type { TokenSecrets } from '../../common/index.js';

/**
 * Session tokens: `<payload>.<signature>`, both base64url without padding. The payload is a
 * small JSON object `{ sid: session id, sub: user id, exp: expiry in ms since the epoch }`; the
 * signature is HMAC-SHA256 of the payload text. A token is accepted only byte for byte as it
 * was issued: the signature is compared as text with the one we compute, so appended
 * characters, padding or another spelling of the same bytes are refused. Whether its session
 * is still open is the users service's check (handlers.ts).
 */

export interface TokenClaims {
  sessionId: string;
  userId: string;
  expiresAt: Date;
}

const SHAPE = /^[A-Za-z0-9_-]{1,800}\.[A-Za-z0-9_-]{43}$/;

function sign(payload: string, secret: string): string {
  return createHmac('sha256', secret).update(payload).digest('base64url');
}

export function signToken(claims: TokenClaims, secret: string): string {
  const payload = Buffer.from(
    JSON.stringify({ sid: claims.sessionId, sub: claims.userId, exp: claims.expiresAt.getTime() }),
  ).toString('base64url');
  return `${payload}.${sign(payload, secret)}`;
}

/**
 * The claims of a token signed with the current or a previous secret, or null when it is
 * malformed, not in its issued form, or signed with another secret. Expiry and the session
 * are the caller's checks (they need the clock and the database).
 */
export function readToken(token: string, secrets: TokenSecrets): TokenClaims | null {
  if (!SHAPE.test(token)) return null;
  const [payload, signature] = token.split('.') as [string, string];
  const given = Buffer.from(signature);
  const signed = [secrets.current, ...secrets.previous].some((secret) =>
    timingSafeEqual(given, Buffer.from(sign(payload, secret))),
  );
  if (!signed) return null;
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
    if (typeof claims.sid !== 'string' || typeof claims.sub !== 'string' || typeof claims.exp !== 'number') {
      return null;
    }
    return { sessionId: claims.sid, userId: claims.sub, expiresAt: new Date(claims.exp) };
  } catch {
    return null;
  }
}
