import { type CallOutcome, call, failure, type Listen, said, secondsHeader } from './protocol.js';

/**
 * ListenBrainz's API (https://listenbrainz.readthedocs.io, "Core" and "JSON Documentation"):
 * `POST /1/submit-listens` with `Authorization: Token <user token>` and a JSON body
 * `{listen_type, payload: [listen, ...]}`; `GET /1/validate-token`. Its limits, from
 * `listenbrainz.webserver.views.api_tools`: a listen is at most MAX_LISTEN_SIZE bytes of JSON,
 * a request at most MAX_LISTEN_PAYLOAD_SIZE, `single` and `playing_now` carry exactly one
 * listen, and `playing_now` has no `listened_at`.
 */
export const LISTENBRAINZ_LIMITS = {
  maxListenBytes: 10_240,
  maxPayloadBytes: 10_240_000,
  /** Listens per `import` request we send (the service allows more; smaller batches fail smaller). */
  batch: 100,
} as const;

export type ListenType = 'single' | 'import' | 'playing_now';

/** Each name at most this many characters, so a listen stays well inside its size limit. */
const MAX_NAME = 1000;

const SUBMISSION_CLIENT = 'music-streaming';

export function listenPayload(listen: Listen, withTime: boolean): Record<string, unknown> {
  const additional: Record<string, unknown> = {
    duration_ms: Math.round(listen.durationMs),
    media_player: SUBMISSION_CLIENT,
    submission_client: SUBMISSION_CLIENT,
  };
  if (listen.trackNumber !== null) additional.tracknumber = listen.trackNumber;
  const metadata: Record<string, unknown> = {
    artist_name: listen.artist.slice(0, MAX_NAME),
    track_name: listen.track.slice(0, MAX_NAME),
    additional_info: additional,
  };
  if (listen.album) metadata.release_name = listen.album.slice(0, MAX_NAME);
  return withTime
    ? { listened_at: Math.floor(listen.playedAt.getTime() / 1000), track_metadata: metadata }
    : { track_metadata: metadata };
}

export class ListenBrainzClient {
  constructor(
    private readonly baseUrl: string,
    private readonly timeoutMs: number,
  ) {}

  private url(path: string): string {
    return `${this.baseUrl.replace(/\/+$/, '')}${path}`;
  }

  /** The account name of a valid token; null when ListenBrainz says it is not valid. Throws when it cannot tell. */
  async validate(token: string): Promise<{ userName: string } | null> {
    const res = await call(
      this.url('/1/validate-token'),
      { method: 'GET', headers: { Authorization: `Token ${token}` } },
      this.timeoutMs,
    );
    const body = res.body as { valid?: unknown; user_name?: unknown } | null;
    if (res.status === 200 && body?.valid === true && typeof body.user_name === 'string') {
      return { userName: body.user_name.slice(0, 200) };
    }
    if ((res.status === 200 && body?.valid === false) || res.status === 401) return null;
    throw new Error(`ListenBrainz answered the token check with ${res.status}`);
  }

  /** Submits listens: one `single` or `playing_now`, or up to a batch as `import`. */
  async submit(token: string, type: ListenType, listens: readonly Listen[]): Promise<CallOutcome> {
    const body = JSON.stringify({
      listen_type: type,
      payload: listens.map((l) => listenPayload(l, type !== 'playing_now')),
    });
    let res: Awaited<ReturnType<typeof call>>;
    try {
      res = await call(
        this.url('/1/submit-listens'),
        {
          method: 'POST',
          headers: { Authorization: `Token ${token}`, 'Content-Type': 'application/json' },
          body,
        },
        this.timeoutMs,
      );
    } catch (err) {
      return { kind: 'retry', reason: failure(err) };
    }
    // When the allowance of the window is spent, the next call waits for the window's end.
    const remaining = res.headers.get('X-RateLimit-Remaining');
    const resetIn = secondsHeader(res.headers, 'X-RateLimit-Reset-In');
    const spent = remaining !== null && Number(remaining) <= 0 ? resetIn : undefined;
    if (res.status === 200)
      return spent === undefined ? { kind: 'accepted' } : { kind: 'accepted', waitMs: spent };
    if (res.status === 401) return { kind: 'credentials', problem: 'ListenBrainz refused your token' };
    if (res.status === 429) {
      const waitMs = secondsHeader(res.headers, 'Retry-After') ?? resetIn;
      return {
        kind: 'retry',
        reason: 'ListenBrainz is rate limiting',
        ...(waitMs === undefined ? {} : { waitMs }),
      };
    }
    if (res.status === 400)
      return { kind: 'refused', reason: `ListenBrainz: ${said(res.body, 'error') || 'bad request'}` };
    return { kind: 'retry', reason: `ListenBrainz answered ${res.status}` };
  }
}
