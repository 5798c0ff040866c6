/**
 * What the senders of both services share: a listen as sent, how a call ended, and the HTTP
 * call itself (a timeout, a network failure and a 5xx all mean "try again later").
 */

/** One play as a scrobbling service takes it. */
export interface Listen {
  artist: string;
  track: string;
  album: string | null;
  durationMs: number;
  trackNumber: number | null;
  playedAt: Date;
}

/** The answer for one listen of an accepted call. */
export type ListenOutcome = { ok: true } | { ok: false; reason: string };

export type CallOutcome =
  /** Taken; `each` when the service answers per listen (Last.fm's ignored scrobbles). */
  | { kind: 'accepted'; each?: ListenOutcome[]; waitMs?: number }
  /** The service refused the payload for what it holds (a 400): no use sending it again as it is. */
  | { kind: 'refused'; reason: string }
  /** The service refused the credentials: the link is broken until the user links again. */
  | { kind: 'credentials'; problem: string }
  /** Not now (down, slow, 5xx, 429): try again after `waitMs` if the service said, else back off. */
  | { kind: 'retry'; reason: string; waitMs?: number };

export interface HttpAnswer {
  status: number;
  headers: Headers;
  body: unknown;
}

/** One HTTP call with a deadline; throws on a network failure or the timeout. */
export async function call(
  url: string,
  init: { method: 'GET' | 'POST'; headers?: Record<string, string>; body?: string },
  timeoutMs: number,
): Promise<HttpAnswer> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  let body: unknown = null;
  try {
    body = text.length > 0 ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  return { status: res.status, headers: res.headers, body };
}

/** A wait a service gave in seconds (`Retry-After`, `X-RateLimit-Reset-In`), in ms; undefined when absent or odd. */
export function secondsHeader(headers: Headers, name: string): number | undefined {
  const raw = headers.get(name);
  if (raw === null || !/^\d{1,7}$/.test(raw.trim())) return undefined;
  return Number(raw) * 1000;
}

/** Why a call could not be made, without anything of the request (no token in a message). */
export function failure(err: unknown): string {
  const e = err as { name?: string; cause?: { code?: string } };
  if (e.name === 'TimeoutError') return 'no answer in time';
  return `could not reach the service${e.cause?.code ? ` (${e.cause.code})` : ''}`;
}

/** What a service said in a failed answer, bounded. */
export function said(body: unknown, field: string): string {
  const value = body && typeof body === 'object' ? (body as Record<string, unknown>)[field] : undefined;
  return typeof value === 'string' ? value.slice(0, 300) : '';
}
