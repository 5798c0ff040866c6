/**
 * The gateway's REST API, as the terminal client uses it (client/api.ts), from the browser:
 * same origin, JSON, `Authorization: Bearer <token>`, errors `{"error": {"code", "message"}}`.
 *
 * Two answers are handled here for every page at once:
 * - 401 to a request that carried the token: the session is over (expired, revoked); it is
 *   forgotten and the app shows the login page.
 * - 503 (or no answer at all): `connection` turns to "down", which shows the banner; reads
 *   are retried (with back-off, honouring Retry-After) until they succeed, and the first
 *   answer that gets through turns it back to "up".
 */
import { clearSession, session } from './session.js';
import { createStore } from './store.js';

export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/** Whether the gateway is answering; `down` shows the banner. */
export const connection = createStore<'up' | 'down'>('up');

/** Answers worth trying again: the gateway or a service behind it is briefly away. */
export function isTransient(status: number): boolean {
  return status === 0 || status === 502 || status === 503 || status === 504;
}

const REQUEST_TIMEOUT_MS = 15_000;

interface Sent {
  status: number;
  headers: Headers;
  text: string;
}

/** One request, never throwing for HTTP or network failures: status 0 means no answer. */
async function send(
  method: string,
  path: string,
  opts: { body?: unknown; signal?: AbortSignal; headers?: Record<string, string> } = {},
): Promise<Sent> {
  const token = session.get()?.token;
  const headers: Record<string, string> = { accept: 'application/json', ...opts.headers };
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  if (token) headers.authorization = `Bearer ${token}`;
  const signals = [AbortSignal.timeout(REQUEST_TIMEOUT_MS), ...(opts.signal ? [opts.signal] : [])];
  let result: Sent;
  try {
    const res = await fetch(path, {
      method,
      headers,
      // Our own ETag handling below sees the 304s; the browser's cache stays out of it.
      cache: 'no-store',
      ...(opts.body === undefined ? {} : { body: JSON.stringify(opts.body) }),
      signal: AbortSignal.any(signals),
    });
    result = { status: res.status, headers: res.headers, text: await res.text() };
  } catch (err) {
    if (opts.signal?.aborted) throw err;
    result = { status: 0, headers: new Headers(), text: '' };
  }
  connection.set(isTransient(result.status) ? 'down' : 'up');
  if (result.status === 401 && token && session.get()?.token === token) clearSession();
  return result;
}

function errorOf(sent: Sent): ApiError {
  if (sent.status === 0) return new ApiError('The server cannot be reached.', 0);
  let message: string | undefined;
  try {
    message = (JSON.parse(sent.text) as { error?: { message?: string } }).error?.message;
  } catch {
    message = undefined;
  }
  return new ApiError(message ?? `The server answered ${sent.status}.`, sent.status);
}

function parse<T>(sent: Sent): T {
  if (sent.status < 200 || sent.status >= 300) throw errorOf(sent);
  return (sent.text === '' ? undefined : JSON.parse(sent.text)) as T;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}

/** The last answer to each GET, by URL, to ask again with If-None-Match (bounded). */
const answers = new Map<string, { etag: string; text: string }>();
const MAX_ANSWERS = 200;

/** Forgets remembered answers (they may be the user's own). */
export function forgetAnswers(): void {
  answers.clear();
}

/**
 * GET with ETag: a 304 reuses the remembered answer. Retried while the gateway is away (the
 * banner shows meanwhile) until it answers or `signal` aborts; `changed` is false for a 304.
 */
export async function getJson<T>(path: string, signal?: AbortSignal): Promise<{ data: T; changed: boolean }> {
  for (let attempt = 0; ; attempt++) {
    const known = answers.get(path);
    const sent = await send('GET', path, {
      ...(signal ? { signal } : {}),
      // A conditional fetch gets `Cache-Control: no-cache` added by the browser unless it has
      // one, and express never answers 304 to no-cache; max-age=0 asks the same without that.
      headers: known ? { 'if-none-match': known.etag, 'cache-control': 'max-age=0' } : {},
    });
    if (sent.status === 304 && known) return { data: JSON.parse(known.text) as T, changed: false };
    if (!isTransient(sent.status)) {
      const data = parse<T>(sent);
      const etag = sent.headers.get('etag');
      answers.delete(path);
      if (etag) {
        answers.set(path, { etag, text: sent.text });
        if (answers.size > MAX_ANSWERS) answers.delete(answers.keys().next().value!);
      }
      return { data, changed: true };
    }
    const retryAfter = Number(sent.headers.get('retry-after'));
    const backoff = Math.min(1000 * 2 ** attempt, 5000);
    await sleep(
      Number.isFinite(retryAfter) && retryAfter > 0 ? Math.min(retryAfter * 1000, 10_000) : backoff,
      signal,
    );
  }
}

export async function get<T>(path: string, signal?: AbortSignal): Promise<T> {
  return (await getJson<T>(path, signal)).data;
}

/** A change (POST, PUT, PATCH, DELETE): sent once, since retrying a change the gateway may have made could make it twice. */
export async function change<T>(
  method: 'POST' | 'PUT' | 'PATCH' | 'DELETE',
  path: string,
  body?: unknown,
): Promise<T> {
  return parse<T>(await send(method, path, body === undefined ? {} : { body }));
}

/** POST answering with the status only (0: no answer), for the play reporter. */
export async function postStatus(path: string, body: unknown): Promise<number> {
  return (await send('POST', path, { body })).status;
}

/** `/api/...?a=1&b=2`, leaving out undefined values. */
/** A file the server answers (an exported playlist): its text and the name it suggests. */
export async function download(path: string): Promise<{ text: string; fileName: string; type: string }> {
  const sent = await send('GET', path, { headers: { accept: '*/*' } });
  if (sent.status < 200 || sent.status >= 300) throw errorOf(sent);
  const named = /filename\*=UTF-8''([^;]+)/.exec(sent.headers.get('content-disposition') ?? '')?.[1];
  return {
    text: sent.text,
    fileName: named ? decodeURIComponent(named) : 'playlist.m3u8',
    type: sent.headers.get('content-type') ?? 'application/octet-stream',
  };
}

export function path(base: string, query: Record<string, string | number | undefined> = {}): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, String(v));
  const qs = params.toString();
  return qs ? `${base}?${qs}` : base;
}

export const enc = encodeURIComponent;
