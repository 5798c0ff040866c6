import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Session tokens: `<payload>.<signature>`, both base64url. The payload is a small JSON object
 * `{ sub: userId, exp: expiry in ms since the epoch }`; the signature is HMAC-SHA256 of the
 * payload text with the configured secret. Stateless, so any worker can check any token.
 */

export interface TokenClaims {
  userId: string;
  expiresAt: Date;
}

function sign(payload: string, secret: string): Buffer {
  return createHmac('sha256', secret).update(payload).digest();
}

export function signToken(claims: TokenClaims, secret: string): string {
  const payload = Buffer.from(
    JSON.stringify({ sub: claims.userId, exp: claims.expiresAt.getTime() }),
  ).toString('base64url');
  return `${payload}.${sign(payload, secret).toString('base64url')}`;
}

/**
 * The claims of a token whose signature is valid, or null when it was not signed with
 * `secret` or is malformed. Expiry is the caller's check (it needs the clock).
 */
export function readToken(token: string, secret: string): TokenClaims | null {
  const [payload, signature, extra] = token.split('.');
  if (!payload || !signature || extra !== undefined) return null;
  const given = Buffer.from(signature, 'base64url');
  const expected = sign(payload, secret);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as {
      sub?: unknown;
      exp?: unknown;
    };
    if (typeof claims.sub !== 'string' || typeof claims.exp !== 'number') return null;
    return { userId: claims.sub, expiresAt: new Date(claims.exp) };
  } catch {
    return null;
  }
}
