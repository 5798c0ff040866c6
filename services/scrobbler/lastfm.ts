import { createHash } from 'node:crypto';
import {
  type CallOutcome,
  call,
  failure,
  type HttpAnswer,
  type Listen,
  type ListenOutcome,
  said,
  secondsHeader,
} from './protocol.js';

/**
 * Last.fm's web services (https://www.last.fm/api): every call a POST of form-urlencoded
 * UTF-8 parameters to the root URL, signed with `api_sig`, the md5 (hex) of every parameter
 * but `format` and `callback` as `<name><value>`, names sorted by their bytes, followed by the
 * shared secret (https://www.last.fm/api/authspec, section 8). `track.scrobble` takes up to 50
 * scrobbles in array notation (`artist[0]`, ...), dated by `timestamp[i]` (UTC seconds) at most
 * 14 days back; `track.updateNowPlaying` one track; the web auth flow is `auth.getToken`, the
 * user's visit to `https://www.last.fm/api/auth/?api_key=...&token=...`, then `auth.getSession`.
 */
export const LASTFM_LIMITS = {
  batch: 50,
  /** Last.fm takes scrobbles this far back at most. */
  maxAgeMs: 14 * 86_400_000,
  /** Tracks shorter than this are not scrobbled (Last.fm's rule). */
  minTrackMs: 30_000,
} as const;

/** `api_sig` of a call's parameters, as documented. */
export function apiSignature(params: Record<string, string>, secret: string): string {
  const names = Object.keys(params)
    .filter((n) => n !== 'format' && n !== 'callback')
    .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const text = names.map((n) => `${n}${params[n]}`).join('') + secret;
  return createHash('md5').update(text, 'utf8').digest('hex');
}

/** Last.fm error codes (https://www.last.fm/api/errorcodes) and what each means for us. */
const CREDENTIAL_ERRORS: Record<number, string> = {
  9: 'Last.fm refused your session',
  4: "Last.fm refused this server's credentials",
  10: "Last.fm refused this server's API key",
  13: "Last.fm refused this server's signature",
  26: "Last.fm suspended this server's API key",
};
const REFUSED_ERRORS = new Set([6, 7]);

interface ScrobbleAnswer {
  scrobbles?: {
    scrobble?: ScrobbleItem | ScrobbleItem[];
  };
}
interface ScrobbleItem {
  ignoredMessage?: { code?: string | number; '#text'?: string };
}

const IGNORED: Record<string, string> = {
  '1': 'Last.fm ignored the artist',
  '2': 'Last.fm ignored the track',
  '3': 'Last.fm found the time too old',
  '4': 'Last.fm found the time too new',
  '5': "Last.fm's daily scrobble limit was reached",
};

export class LastfmClient {
  constructor(
    private readonly baseUrl: string,
    private readonly apiKey: string,
    private readonly secret: string,
    private readonly timeoutMs: number,
  ) {}

  get configured(): boolean {
    return this.apiKey.length > 0 && this.secret.length > 0;
  }

  private async post(method: string, params: Record<string, string>): Promise<HttpAnswer> {
    const all: Record<string, string> = { ...params, method, api_key: this.apiKey };
    all.api_sig = apiSignature(all, this.secret);
    all.format = 'json';
    return call(
      this.baseUrl,
      {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded; charset=utf-8' },
        body: new URLSearchParams(all).toString(),
      },
      this.timeoutMs,
    );
  }

  /** A request token for the web flow. */
  async getToken(): Promise<string> {
    const res = await this.post('auth.getToken', {});
    const token = (res.body as { token?: unknown } | null)?.token;
    if (res.status !== 200 || typeof token !== 'string') {
      throw new Error(`Last.fm answered auth.getToken with ${res.status} ${said(res.body, 'message')}`);
    }
    return token;
  }

  /** The session of an allowed request token; null when Last.fm refuses the token (not allowed, expired). */
  async getSession(token: string): Promise<{ name: string; key: string } | null> {
    const res = await this.post('auth.getSession', { token });
    const session = (res.body as { session?: { name?: unknown; key?: unknown } } | null)?.session;
    if (res.status === 200 && typeof session?.key === 'string' && typeof session.name === 'string') {
      return { name: session.name.slice(0, 200), key: session.key };
    }
    const code = Number((res.body as { error?: unknown } | null)?.error);
    if ([4, 14, 15].includes(code)) return null;
    throw new Error(`Last.fm answered auth.getSession with ${res.status} ${said(res.body, 'message')}`);
  }

  /** Scrobbles up to 50 listens; `each` says which Last.fm took. */
  async scrobble(sessionKey: string, listens: readonly Listen[]): Promise<CallOutcome> {
    const params: Record<string, string> = { sk: sessionKey };
    listens.forEach((l, i) => {
      params[`artist[${i}]`] = l.artist;
      params[`track[${i}]`] = l.track;
      params[`timestamp[${i}]`] = String(Math.floor(l.playedAt.getTime() / 1000));
      params[`duration[${i}]`] = String(Math.round(l.durationMs / 1000));
      if (l.album) params[`album[${i}]`] = l.album;
      if (l.trackNumber !== null) params[`trackNumber[${i}]`] = String(l.trackNumber);
    });
    return this.outcome(
      () => this.post('track.scrobble', params),
      (body) => {
        const items = (body as ScrobbleAnswer | null)?.scrobbles?.scrobble;
        const list = Array.isArray(items) ? items : items ? [items] : [];
        return listens.map((_, i): ListenOutcome => {
          const code = String(list[i]?.ignoredMessage?.code ?? '0');
          return code === '0'
            ? { ok: true }
            : { ok: false, reason: IGNORED[code] ?? `Last.fm ignored it (${code})` };
        });
      },
    );
  }

  async updateNowPlaying(sessionKey: string, listen: Listen): Promise<CallOutcome> {
    const params: Record<string, string> = {
      sk: sessionKey,
      artist: listen.artist,
      track: listen.track,
      duration: String(Math.round(listen.durationMs / 1000)),
    };
    if (listen.album) params.album = listen.album;
    return this.outcome(() => this.post('track.updateNowPlaying', params));
  }

  private async outcome(
    send: () => Promise<HttpAnswer>,
    each?: (body: unknown) => ListenOutcome[],
  ): Promise<CallOutcome> {
    let res: HttpAnswer;
    try {
      res = await send();
    } catch (err) {
      return { kind: 'retry', reason: failure(err) };
    }
    const error = Number((res.body as { error?: unknown } | null)?.error);
    if (res.status === 200 && !Number.isFinite(error) && res.body !== null) {
      return each ? { kind: 'accepted', each: each(res.body) } : { kind: 'accepted' };
    }
    if (res.status === 429 || error === 29) {
      const waitMs = secondsHeader(res.headers, 'Retry-After');
      return {
        kind: 'retry',
        reason: 'Last.fm is rate limiting',
        ...(waitMs === undefined ? {} : { waitMs }),
      };
    }
    const problem = CREDENTIAL_ERRORS[error];
    if (problem) return { kind: 'credentials', problem };
    if (REFUSED_ERRORS.has(error))
      return { kind: 'refused', reason: `Last.fm: ${said(res.body, 'message') || `error ${error}`}` };
    return {
      kind: 'retry',
      reason: `Last.fm answered ${res.status}${Number.isFinite(error) ? ` (error ${error})` : ''}`,
    };
  }
}
