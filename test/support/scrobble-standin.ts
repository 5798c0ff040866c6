import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * A stand-in for ListenBrainz and Last.fm, on one local port, that checks what their published
 * APIs document (the real services cannot be reached from here):
 *
 * ListenBrainz (listenbrainz.readthedocs.io, "Core", "JSON Documentation", api_tools' limits):
 * `GET /1/validate-token` and `POST /1/submit-listens` with `Authorization: Token <t>`, a JSON
 * body `{listen_type, payload}`, `single` and `playing_now` with exactly one listen,
 * `playing_now` without `listened_at`, the others with an integer `listened_at`, each listen's
 * `track_metadata` with `artist_name` and `track_name`, a listen at most 10,240 bytes of JSON
 * and a payload at most 10,240,000; `X-RateLimit-*` headers on every answer.
 *
 * Last.fm (last.fm/api: authspec, track.scrobble, track.updateNowPlaying, errorcodes): a POST
 * of form-urlencoded UTF-8 to `/2.0/`, `api_key`, `api_sig` = md5 of the sorted parameters
 * (all but `format` and `callback`) and the secret, `sk` for the write methods; scrobbles in
 * array notation, 50 at most, `timestamp[i]` required, over 14 days old ignored (code 3).
 *
 * Whatever breaks a documented rule is answered as the service would (400, error 6 or 13)
 * and recorded in `violations`, which a test expects to stay empty.
 */

export interface LbListen {
  listened_at?: number;
  track_metadata: {
    artist_name: string;
    track_name: string;
    release_name?: string;
    additional_info?: Record<string, unknown>;
  };
}

export interface LbSubmission {
  token: string;
  type: 'single' | 'playing_now' | 'import';
  payload: LbListen[];
}

export interface LastfmCall {
  method: string;
  params: Record<string, string>;
}

type Mode = 'up' | 'down' | 'error' | 'slow';

const MAX_LISTEN_SIZE = 10_240;
const MAX_PAYLOAD = 10_240_000;
const LISTEN_MINIMUM_TS = 1_033_430_400;

export class ScrobbleStandIn {
  /** ListenBrainz tokens that are valid, with their user names. */
  readonly lbTokens = new Map<string, string>();
  /** Last.fm session keys that are valid, with their user names. */
  readonly lastfmSessions = new Map<string, string>();
  /** Last.fm request tokens the user allowed on the auth page. */
  readonly lastfmAllowed = new Set<string>();
  readonly lastfmApiKey = `key${randomBytes(8).toString('hex')}`;
  readonly lastfmSecret = `secret${randomBytes(8).toString('hex')}`;
  /** Every submission ListenBrainz took, in order. */
  readonly lbAccepted: LbSubmission[] = [];
  /** Every Last.fm write call taken, in order. */
  readonly lastfmAccepted: LastfmCall[] = [];
  readonly violations: string[] = [];
  /** Calls that reached the stand-in (any answer). */
  calls = 0;
  mode: Mode = 'up';
  /** The next this many submit calls are answered 429 with `Retry-After: retryAfter`. */
  rateLimitNext = 0;
  retryAfterSeconds = 1;
  /** ListenBrainz's window: calls left before `X-RateLimit-Remaining` says 0. */
  windowLeft = 1000;
  resetInSeconds = 1;
  /** Times a limited window was broken (a call made while Remaining was 0 and the window not reset). */
  windowBroken = 0;
  private windowEndsAt = 0;
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private tokenCounter = 0;

  constructor() {
    this.server = createServer((req, res) => {
      void this.handle(req, res).catch((err) => {
        this.violations.push(`stand-in failure: ${(err as Error).message}`);
        if (!res.headersSent) res.writeHead(500).end();
      });
    });
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  get listenbrainzUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get lastfmUrl(): string {
    return `http://127.0.0.1:${this.port}/2.0/`;
  }

  /** Every listen ListenBrainz took (`single` and `import`), in order. */
  get lbListens(): Array<LbListen & { type: string; token: string }> {
    return this.lbAccepted
      .filter((s) => s.type !== 'playing_now')
      .flatMap((s) => s.payload.map((l) => ({ ...l, type: s.type, token: s.token })));
  }

  /** Every scrobble Last.fm took, one per array index. */
  get lastfmScrobbles(): Array<{ artist: string; track: string; timestamp: number; sk: string }> {
    return this.lastfmAccepted
      .filter((c) => c.method === 'track.scrobble')
      .flatMap((c) => {
        const out = [];
        for (let i = 0; c.params[`artist[${i}]`] !== undefined; i++) {
          out.push({
            artist: c.params[`artist[${i}]`]!,
            track: c.params[`track[${i}]`]!,
            timestamp: Number(c.params[`timestamp[${i}]`]),
            sk: c.params.sk!,
          });
        }
        return out;
      });
  }

  /** The Last.fm signature of `params`, as documented. */
  signature(params: Record<string, string>): string {
    const names = Object.keys(params)
      .filter((n) => n !== 'format' && n !== 'callback' && n !== 'api_sig')
      .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    return createHash('md5')
      .update(names.map((n) => `${n}${params[n]}`).join('') + this.lastfmSecret, 'utf8')
      .digest('hex');
  }

  /** Goes down: open connections are cut and new ones are answered by a reset. */
  down(): void {
    this.mode = 'down';
    for (const s of this.sockets) s.destroy();
  }

  up(): void {
    this.mode = 'up';
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<unknown> {
    if (this.mode === 'down') {
      req.socket.destroy();
      return;
    }
    this.calls++;
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > MAX_PAYLOAD + 1_000_000) {
        this.violations.push('a body far beyond the documented payload size');
        res.writeHead(413).end();
        return;
      }
      chunks.push(chunk as Buffer);
    }
    const body = Buffer.concat(chunks);
    if (this.mode === 'error') {
      res.writeHead(503, { 'content-type': 'text/html' }).end('<h1>Service Unavailable</h1>');
      return;
    }
    if (this.mode === 'slow') await new Promise((r) => setTimeout(r, 60_000));
    const url = new URL(req.url ?? '/', 'http://stand-in');
    if (url.pathname === '/1/validate-token' && req.method === 'GET') return this.validate(req, res);
    if (url.pathname === '/1/submit-listens' && req.method === 'POST') return this.submit(req, res, body);
    if (url.pathname === '/2.0/' && req.method === 'POST') return this.lastfm(req, res, body);
    this.violations.push(`${req.method} ${url.pathname} is no documented call`);
    res.writeHead(404).end();
  }

  private json(
    res: ServerResponse,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ): void {
    res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
  }

  private token(req: IncomingMessage): string | null {
    const m = /^Token (\S+)$/.exec(req.headers.authorization ?? '');
    return m ? m[1]! : null;
  }

  private validate(req: IncomingMessage, res: ServerResponse): void {
    const token = this.token(req);
    if (!token) this.violations.push('validate-token without Authorization: Token <t>');
    const user = token ? this.lbTokens.get(token) : undefined;
    this.json(
      res,
      200,
      user
        ? { code: 200, message: 'Token valid.', valid: true, user_name: user }
        : { code: 200, message: 'Token invalid.', valid: false },
    );
  }

  private rateHeaders(): Record<string, string> {
    const now = Date.now();
    if (now >= this.windowEndsAt) {
      this.windowEndsAt = now + this.resetInSeconds * 1000;
    }
    return {
      'X-RateLimit-Limit': '1000',
      'X-RateLimit-Remaining': String(Math.max(0, this.windowLeft)),
      'X-RateLimit-Reset-In': String(Math.max(0, Math.ceil((this.windowEndsAt - now) / 1000))),
    };
  }

  private submit(req: IncomingMessage, res: ServerResponse, body: Buffer): unknown {
    const refuse = (why: string) => {
      this.violations.push(why);
      this.json(res, 400, { code: 400, error: why });
    };
    const token = this.token(req);
    if (!token) return refuse('submit-listens without Authorization: Token <t>');
    if (!/^application\/json/.test(req.headers['content-type'] ?? '')) return refuse('not application/json');
    if (body.length > MAX_PAYLOAD) return refuse('payload larger than MAX_LISTEN_PAYLOAD_SIZE');
    if (!this.lbTokens.has(token)) {
      this.json(res, 401, { code: 401, error: 'Invalid authorization token.' });
      return;
    }
    if (this.windowLeft <= 0 && Date.now() < this.windowEndsAt) this.windowBroken++;
    if (Date.now() >= this.windowEndsAt) this.windowLeft = Math.max(this.windowLeft, 1);
    if (this.rateLimitNext > 0) {
      this.rateLimitNext--;
      this.json(
        res,
        429,
        { code: 429, error: 'Too many requests.' },
        {
          'Retry-After': String(this.retryAfterSeconds),
          ...this.rateHeaders(),
        },
      );
      return;
    }
    let parsed: { listen_type?: unknown; payload?: unknown };
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      return refuse('body is not JSON');
    }
    const type = parsed.listen_type;
    if (type !== 'single' && type !== 'playing_now' && type !== 'import')
      return refuse(`listen_type ${String(type)}`);
    const payload = parsed.payload;
    if (!Array.isArray(payload) || payload.length === 0) return refuse('payload must be a non-empty list');
    if (type !== 'import' && payload.length !== 1) return refuse(`${type} with ${payload.length} listens`);
    for (const listen of payload as LbListen[]) {
      if (Buffer.byteLength(JSON.stringify(listen)) > MAX_LISTEN_SIZE)
        return refuse('a listen over MAX_LISTEN_SIZE');
      const m = listen?.track_metadata;
      if (
        !m ||
        typeof m.artist_name !== 'string' ||
        !m.artist_name ||
        typeof m.track_name !== 'string' ||
        !m.track_name
      ) {
        return refuse('track_metadata without artist_name and track_name');
      }
      if (type === 'playing_now' && listen.listened_at !== undefined)
        return refuse('playing_now with listened_at');
      if (
        type !== 'playing_now' &&
        (!Number.isInteger(listen.listened_at) || listen.listened_at! < LISTEN_MINIMUM_TS)
      ) {
        return refuse('listened_at missing or not a plausible integer');
      }
    }
    this.windowLeft--;
    this.lbAccepted.push({ token, type, payload: payload as LbListen[] });
    this.json(res, 200, { status: 'ok' }, this.rateHeaders());
  }

  private lastfm(req: IncomingMessage, res: ServerResponse, body: Buffer): unknown {
    const fail = (code: number, message: string, violation = true) => {
      if (violation) this.violations.push(`Last.fm: ${message}`);
      this.json(res, code === 9 || code === 13 || code === 10 ? 403 : 400, { error: code, message });
    };
    if (!/^application\/x-www-form-urlencoded/.test(req.headers['content-type'] ?? '')) {
      return fail(6, 'not form-urlencoded');
    }
    const params = Object.fromEntries(new URLSearchParams(body.toString('utf8')));
    if (params.format !== 'json') return fail(6, 'format=json expected by this client');
    if (params.api_key !== this.lastfmApiKey) return fail(10, 'Invalid API key');
    if (params.api_sig !== this.signature(params)) return fail(13, 'Invalid method signature supplied');
    const method = params.method;
    if (method === 'auth.getToken') {
      this.json(res, 200, { token: `tok${++this.tokenCounter}${randomBytes(8).toString('hex')}` });
      return;
    }
    if (method === 'auth.getSession') {
      if (!params.token || !this.lastfmAllowed.has(params.token))
        return fail(14, 'This token has not been authorized', false);
      const key = `sk${randomBytes(12).toString('hex')}`;
      this.lastfmSessions.set(key, 'lastfm-user');
      this.json(res, 200, { session: { name: 'lastfm-user', key, subscriber: 0 } });
      return;
    }
    if (method !== 'track.scrobble' && method !== 'track.updateNowPlaying')
      return fail(3, `no method ${method}`);
    if (!params.sk || !this.lastfmSessions.has(params.sk))
      return fail(9, 'Invalid session key - Please re-authenticate', false);
    if (this.rateLimitNext > 0) {
      this.rateLimitNext--;
      return fail(29, 'Rate limit exceeded', false);
    }
    if (method === 'track.updateNowPlaying') {
      if (!params.artist || !params.track) return fail(6, 'updateNowPlaying without artist and track');
      this.lastfmAccepted.push({ method, params });
      this.json(res, 200, { nowplaying: { track: { '#text': params.track } } });
      return;
    }
    let n = 0;
    while (params[`artist[${n}]`] !== undefined) n++;
    if (n === 0 || n > 50) return fail(6, `track.scrobble with ${n} scrobbles`);
    const scrobble = [];
    let accepted = 0;
    for (let i = 0; i < n; i++) {
      const ts = Number(params[`timestamp[${i}]`]);
      if (!params[`track[${i}]`] || !Number.isInteger(ts))
        return fail(6, `scrobble ${i} without track or timestamp`);
      const old = ts < Date.now() / 1000 - 14 * 86_400;
      if (old) this.violations.push('a scrobble older than 14 days was sent');
      if (!old) accepted++;
      scrobble.push({ ignoredMessage: { code: old ? '3' : '0', '#text': '' } });
    }
    this.lastfmAccepted.push({ method, params });
    this.json(res, 200, {
      scrobbles: { scrobble: n === 1 ? scrobble[0] : scrobble, '@attr': { accepted, ignored: n - accepted } },
    });
  }
}
