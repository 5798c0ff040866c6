/** The gateway's REST API, typed with the services' result types. */

import {
  type Account,
  type Album,
  type Artist,
  type EarlierPlays,
  type ListeningReport,
  type Lyrics,
  MAX_PLAYS_PER_REQUEST,
  type Page,
  type Play,
  type Playlist,
  type PlaylistDetail,
  type ScrobbleLink,
  type ScrobbleService,
  type ScrobbleStatus,
  type SearchResult,
  type Session,
  type Share,
  type ShareKind,
  type Track,
  type User,
  type UserStats,
  type Window,
} from '../common/contracts/index.js';

export type TopTrack = Track & { plays: number };

export type TopWindow = Window;

/** A failed call, with the gateway's message (or what went wrong reaching it). */
export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    message: string,
    readonly status: number,
    readonly code?: string | number,
  ) {
    super(message);
  }
}

type Query = Record<string, string | number | undefined>;

/** One play as the gateway takes it. */
export interface PlayReport {
  trackId: string;
  msPlayed: number;
  playedAt: string;
  playId: string;
}

/** The most plays the gateway takes in one report. */
export const MAX_PLAYS_PER_REPORT = MAX_PLAYS_PER_REQUEST;

/** The gateway could not take the request now (503) or could not be reached: worth trying again later. */
export function isTransient(err: unknown): boolean {
  return err instanceof ApiError && (err.status === 503 || err.status === 0);
}

export class Api {
  constructor(
    readonly baseUrl: string,
    public token: string | undefined,
    private readonly timeoutMs = 15_000,
  ) {}

  private url(path: string, query: Query = {}): URL {
    const url = new URL(path, this.baseUrl);
    for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, String(v));
    return url;
  }

  private async send(method: string, url: URL, body?: unknown, signal?: AbortSignal): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    try {
      return await fetch(url, {
        method,
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: signal ?? AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      if ((err as Error).name === 'AbortError') throw err;
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const why = cause?.code ?? cause?.message ?? (err as Error).message;
      throw new ApiError(`cannot reach the gateway at ${this.baseUrl} (${why})`, 0);
    }
  }

  private async request<T>(
    method: string,
    path: string,
    opts: { query?: Query; body?: unknown } = {},
  ): Promise<T> {
    const res = await this.send(method, this.url(path, opts.query), opts.body);
    const text = await res.text();
    if (!res.ok) throw errorFrom(res, text);
    if (text === '') return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new ApiError(`the gateway answered ${method} ${path} with something other than JSON`, res.status);
    }
  }

  register(username: string, password: string): Promise<User> {
    return this.request('POST', '/api/users', { body: { username, password } });
  }
  login(username: string, password: string): Promise<Session> {
    return this.request('POST', '/api/sessions', { body: { username, password } });
  }
  /** Ends the session on the server (its token stops working everywhere within seconds). */
  logout(): Promise<{ revoked: number }> {
    return this.request('DELETE', '/api/sessions');
  }
  me(): Promise<User> {
    return this.request('GET', '/api/me');
  }
  /** The listening report of a year (`2026`) or a month (`2026-11`), UTC. */
  report(period: { year: number } | { month: string }): Promise<ListeningReport> {
    return this.request('GET', '/api/me/report', { query: period });
  }
  myStats(): Promise<UserStats> {
    return this.request('GET', '/api/me/stats');
  }
  history(limit?: number): Promise<Play[]> {
    return this.request('GET', '/api/me/history', { query: { limit } });
  }

  artists(limit = 500): Promise<Page<Artist>> {
    return this.request('GET', '/api/artists', { query: { limit } });
  }
  artist(id: string): Promise<Artist & { albums: Album[] }> {
    return this.request('GET', `/api/artists/${encodeURIComponent(id)}`);
  }
  album(id: string): Promise<Album & { tracks: Track[] }> {
    return this.request('GET', `/api/albums/${encodeURIComponent(id)}`);
  }
  tracks(query: { genre?: string; limit?: number; offset?: number }): Promise<Page<Track>> {
    return this.request('GET', '/api/tracks', { query });
  }
  track(id: string): Promise<Track> {
    return this.request('GET', `/api/tracks/${encodeURIComponent(id)}`);
  }
  scrobbling(): Promise<ScrobbleStatus> {
    return this.request('GET', '/api/me/scrobbling');
  }
  /** `{token}` for ListenBrainz, `{sessionKey}` or `{authToken}` for Last.fm. */
  linkScrobbling(service: ScrobbleService, body: Record<string, string>): Promise<ScrobbleLink> {
    return this.request('PUT', `/api/me/scrobbling/${service}`, { body });
  }
  unlinkScrobbling(service: ScrobbleService): Promise<{ unlinked: boolean }> {
    return this.request('DELETE', `/api/me/scrobbling/${service}`);
  }
  lastfmAuthorize(): Promise<{ url: string; authToken: string }> {
    return this.request('POST', '/api/me/scrobbling/lastfm/authorize');
  }
  sendEarlierPlays(service: ScrobbleService): Promise<EarlierPlays> {
    return this.request('POST', `/api/me/scrobbling/${service}/earlier`);
  }
  lyrics(trackId: string): Promise<Lyrics> {
    return this.request('GET', `/api/tracks/${encodeURIComponent(trackId)}/lyrics`);
  }
  /** The caller's share links. */
  shares(): Promise<Share[]> {
    return this.request('GET', '/api/me/shares');
  }
  createShare(body: {
    kind: ShareKind;
    id: string;
    description?: string;
    expiresAt?: string | null;
    downloadable?: boolean;
  }): Promise<Share> {
    return this.request('POST', '/api/me/shares', { body });
  }
  deleteShare(id: string): Promise<{ deleted: true }> {
    return this.request('DELETE', `/api/me/shares/${encodeURIComponent(id)}`);
  }
  search(q: string): Promise<SearchResult> {
    return this.request('GET', '/api/search', { query: { q } });
  }
  topTracks(window: TopWindow, limit?: number): Promise<TopTrack[]> {
    return this.request('GET', '/api/stats/top-tracks', { query: { window, limit } });
  }

  /** The audio of a track; the caller reads (or cancels) the body. */
  async stream(id: string, signal?: AbortSignal): Promise<Response> {
    const res = await this.send(
      'GET',
      this.url(`/api/tracks/${encodeURIComponent(id)}/stream`),
      undefined,
      signal,
    );
    if (!res.ok) throw errorFrom(res, await res.text());
    return res;
  }
  /**
   * Reports plays (at most MAX_PLAYS_PER_REPORT) in one request; retried a few times when the
   * gateway is briefly unavailable (503) or unreachable. Each play's `playId`, the same on
   * every attempt, makes the retries count once.
   */
  async reportPlays(plays: readonly PlayReport[], attempts = 4): Promise<{ ids: string[] }> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.request('POST', '/api/plays/batch', { body: { plays } });
      } catch (err) {
        if (!isTransient(err) || attempt >= attempts) throw err;
        await new Promise((resolve) => setTimeout(resolve, 250 * 2 ** (attempt - 1)));
      }
    }
  }

  playlists(): Promise<Playlist[]> {
    return this.request('GET', '/api/playlists');
  }
  /** One page of a playlist's entries (the gateway answers at most 500 at a time). */
  playlist(
    id: string,
    page: { limit: number; offset: number } = { limit: 500, offset: 0 },
  ): Promise<PlaylistDetail> {
    return this.request('GET', `/api/playlists/${encodeURIComponent(id)}`, { query: page });
  }
  createPlaylist(name: string, isPublic: boolean): Promise<PlaylistDetail> {
    return this.request('POST', '/api/playlists', { body: { name, public: isPublic } });
  }
  /** A smart playlist; `rules` as in common/contracts/smart.ts (the service checks them). */
  createSmartPlaylist(name: string, rules: unknown, isPublic: boolean): Promise<PlaylistDetail> {
    return this.request('POST', '/api/playlists/smart', { body: { name, rules, public: isPublic } });
  }
  setPlaylistRules(id: string, rules: unknown): Promise<PlaylistDetail> {
    return this.request('PUT', `/api/playlists/${encodeURIComponent(id)}/rules`, { body: rules });
  }
  /** The playlist as an `.m3u8` file: its text and the file name the gateway suggests. */
  async exportPlaylist(id: string): Promise<{ text: string; fileName: string; leftOut: number }> {
    const res = await this.send('GET', this.url(`/api/playlists/${encodeURIComponent(id)}/export`));
    const text = await res.text();
    if (!res.ok) throw errorFrom(res, text);
    const disposition = res.headers.get('content-disposition') ?? '';
    const named = /filename\*=UTF-8''([^;]+)/.exec(disposition)?.[1];
    return {
      text,
      fileName: named ? decodeURIComponent(named) : `${id}.m3u8`,
      leftOut: Number(res.headers.get('x-tracks-left-out') ?? 0),
    };
  }
  /** A smart playlist from a Navidrome `.nsp` file's text. */
  importNsp(nsp: string, change: { name?: string; public: boolean }): Promise<PlaylistDetail> {
    return this.request('POST', '/api/playlists/import-nsp', { body: { nsp, ...change } });
  }
  updatePlaylist(id: string, change: { name?: string; public?: boolean }): Promise<Playlist> {
    return this.request('PATCH', `/api/playlists/${encodeURIComponent(id)}`, { body: change });
  }
  deletePlaylist(id: string): Promise<unknown> {
    return this.request('DELETE', `/api/playlists/${encodeURIComponent(id)}`);
  }
  addTracks(id: string, trackIds: string[], position?: number): Promise<PlaylistDetail> {
    return this.request('POST', `/api/playlists/${encodeURIComponent(id)}/tracks`, {
      body: position === undefined ? { trackIds } : { trackIds, position },
    });
  }
  removeTrack(id: string, position: number): Promise<PlaylistDetail> {
    return this.request('DELETE', `/api/playlists/${encodeURIComponent(id)}/tracks/${position}`);
  }
  /** Administrators only: a page of every account, oldest first; `query` matches part of a name. */
  users(query: { limit?: number; offset?: number; query?: string }): Promise<Page<Account>> {
    return this.request('GET', '/api/admin/users', { query });
  }
  /** Administrators only: the account named `username` (any letter case); NotFound as a 404. */
  async userNamed(username: string): Promise<Account> {
    const page = await this.users({ query: username, limit: 500 });
    const found = page.items.find((u) => u.username.toLowerCase() === username.toLowerCase());
    if (!found) throw new ApiError(`no user named "${username}"`, 404);
    return found;
  }
  createUser(body: { username: string; password: string; admin: boolean }): Promise<Account> {
    return this.request('POST', '/api/admin/users', { body });
  }
  updateUser(
    id: string,
    change: { displayName?: string; admin?: boolean; disabled?: boolean; password?: string },
  ): Promise<Account & { revokedSessions: number }> {
    return this.request('PATCH', `/api/admin/users/${encodeURIComponent(id)}`, { body: change });
  }
  deleteUser(id: string): Promise<{ deleted: true }> {
    return this.request('DELETE', `/api/admin/users/${encodeURIComponent(id)}`);
  }
  moveTrack(id: string, from: number, to: number): Promise<PlaylistDetail> {
    return this.request('POST', `/api/playlists/${encodeURIComponent(id)}/tracks/move`, {
      body: { from, to },
    });
  }
}

function errorFrom(res: Response, text: string): ApiError {
  let body: { error?: { code?: string | number; message?: string } } | undefined;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  const message = body?.error?.message ?? `${res.status} ${res.statusText || 'error'}`.trim();
  return new ApiError(message, res.status, body?.error?.code);
}
