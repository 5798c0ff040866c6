import { randomUUID } from 'node:crypto';
import type { Broker } from '../../common/amqp/broker.js';
import { type Album, type Artist, catalogContract, type Track } from '../../common/contracts/catalog.js';
import { historyContract, type Play } from '../../common/contracts/history.js';
import type { ServiceName } from '../../common/contracts/index.js';
import { type Playlist, type PlaylistDetail, playlistsContract } from '../../common/contracts/playlists.js';
import { statsContract, type TrackCount } from '../../common/contracts/stats.js';
import { type Session, type User, usersContract, type VerifiedToken } from '../../common/contracts/users.js';
import {
  ConflictError,
  ForbiddenError,
  InternalError,
  InvalidInputError,
  NotFoundError,
  UnauthorizedError,
} from '../../common/errors.js';
import type { CallContext, Caller, Contract, Handlers } from '../../common/rpc/contract.js';
import { RpcServer } from '../../common/rpc/server.js';
import { silentLogger } from './env.js';
import { fakeCatalogData, fakeCatalogHandlers } from './fake-catalog.js';

/**
 * In-memory implementations of the five service contracts, served on the real broker by real
 * RpcServers, for testing the gateway without databases. Behaviour follows the contracts'
 * documented rules (ownership, visibility, conflicts) closely enough to drive every route.
 */

export interface FakePlaylist {
  id: string;
  ownerId: string;
  name: string;
  public: boolean;
  trackIds: string[];
  createdAt: string;
  updatedAt: string;
}

export interface FakeWorld {
  artists: Artist[];
  albums: Album[];
  tracks: Track[];
  /** Track id -> audio file path (what catalog.getTrackFile answers). */
  files: Map<string, string>;
  /** By username; `admin` as the real service would have made it (the first user). */
  users: Map<string, { user: User; password: string; admin: boolean }>;
  tokens: Map<string, VerifiedToken>;
  playlists: Map<string, FakePlaylist>;
  /** Plays by user, newest last (history and stats read them). */
  plays: Array<{ userId: string; trackId: string; playedAt: string; msPlayed: number }>;
  /** Every call the fakes served, with the trace id and caller it carried. */
  calls: Array<{
    method: string;
    traceId: string;
    caller: Caller | undefined;
    clientAddress: string | undefined;
    params: unknown;
  }>;
  /** Milliseconds a method waits before it answers (slow-service tests). */
  delays: Map<string, number>;
  /** Methods that crash with an unexpected (non-coded) error. */
  faults: Set<string>;
}

const NOW = '2024-01-01T00:00:00.000Z';

/** The shared fake catalog's data (t1..t6), every track playable from `audioPath` except t2. */
function makeWorld(audioPath: string): FakeWorld {
  const { artists, albums, tracks } = fakeCatalogData();
  const files = new Map(tracks.map((t) => [t.id, t.id === 't2' ? `${audioPath}.missing` : audioPath]));
  return {
    artists,
    albums,
    tracks,
    files,
    users: new Map(),
    tokens: new Map(),
    playlists: new Map(),
    plays: [],
    calls: [],
    delays: new Map(),
    faults: new Set(),
  };
}

function need<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new NotFoundError(`${what} not found`);
  return value;
}

function callerOf(ctx: CallContext) {
  if (!ctx.caller) throw new UnauthorizedError('not logged in');
  return ctx.caller;
}

/** The shared fake catalog, with real audio files and top tracks counted from the world's plays. */
function catalogHandlers(w: FakeWorld): Fake<typeof catalogContract> {
  const base = fakeCatalogHandlers(w);
  return {
    ...base,
    getTrackFile: async ({ id }, ctx) => ({
      ...(await base.getTrackFile({ id }, ctx)),
      path: need(w.files.get(id), `track ${id}`),
    }),
    topTracks: async ({ limit }, ctx) => {
      const top = topOf(w.plays, limit);
      const tracks = await base.getTracks({ ids: top.map((t) => t.trackId), withRemoved: false }, ctx);
      return tracks.map((t, i) => ({ ...t, plays: top[i]!.plays }));
    },
  };
}

function register(w: FakeWorld, username: string, password: string): User {
  if (w.users.has(username)) throw new ConflictError(`username ${username} is taken`);
  const user: User = { id: randomUUID(), username, displayName: username, bio: '', createdAt: NOW };
  w.users.set(username, { user, password, admin: w.users.size === 0 });
  return user;
}

function login(w: FakeWorld, username: string, password: string): Session {
  const found = w.users.get(username);
  if (!found || found.password !== password) throw new UnauthorizedError('wrong username or password');
  const token = randomUUID();
  const expiresAt = new Date(Date.now() + 3600_000).toISOString();
  w.tokens.set(token, {
    userId: found.user.id,
    username,
    sessionId: randomUUID(),
    expiresAt,
    admin: found.admin,
  });
  return { token, expiresAt, user: found.user };
}

function usersHandlers(w: FakeWorld): Fake<typeof usersContract> {
  const byId = (id: string) => [...w.users.values()].find((u) => u.user.id === id);
  return {
    register: async ({ username, password }) => register(w, username, password),
    login: async ({ username, password }) => login(w, username, password),
    verifyToken: async ({ token }) => {
      const session = w.tokens.get(token);
      if (!session || Date.parse(session.expiresAt) <= Date.now()) {
        throw new UnauthorizedError('invalid or expired token');
      }
      return session;
    },
    logout: async ({ all }, ctx) => {
      let revoked = 0;
      for (const [token, session] of w.tokens) {
        if (session.userId === ctx.caller.userId && (all || session.sessionId === ctx.caller.sessionId)) {
          w.tokens.delete(token);
          revoked++;
        }
      }
      return { revoked };
    },
    me: async (_, ctx) => {
      const { user, admin } = need(byId(callerOf(ctx).userId), 'user');
      return { ...user, admin, disabled: false };
    },
    getProfile: async (params) =>
      need('id' in params ? byId(params.id) : w.users.get(params.username), 'user').user,
    updateProfile: async (changes, ctx) => {
      const entry = need(byId(callerOf(ctx).userId), 'user');
      if (changes.displayName !== undefined) entry.user.displayName = changes.displayName;
      if (changes.bio !== undefined) entry.user.bio = changes.bio;
      return entry.user;
    },
  };
}

function playlistsHandlers(w: FakeWorld): Fake<typeof playlistsContract> {
  const ownerName = (id: string) => [...w.users.values()].find((u) => u.user.id === id)?.user.username ?? '';
  const summary = (p: FakePlaylist): Playlist => ({
    id: p.id,
    ownerId: p.ownerId,
    ownerName: ownerName(p.ownerId),
    name: p.name,
    public: p.public,
    trackCount: p.trackIds.length,
    durationMs: p.trackIds.length * 1000,
    createdAt: p.createdAt,
    updatedAt: p.updatedAt,
  });
  const detail = (p: FakePlaylist, offset = 0, limit = 50): PlaylistDetail => ({
    ...summary(p),
    tracks: p.trackIds
      .map((id, position) => ({ position, track: w.tracks.find((t) => t.id === id)! }))
      .slice(offset, offset + limit),
    offset,
    limit,
  });
  const visible = (id: string, ctx: CallContext) => {
    const p = w.playlists.get(id);
    if (!p || (!p.public && p.ownerId !== ctx.caller?.userId))
      throw new NotFoundError(`playlist ${id} not found`);
    return p;
  };
  const owned = (id: string, ctx: CallContext) => {
    const caller = callerOf(ctx);
    const p = visible(id, ctx);
    if (p.ownerId !== caller.userId) throw new ForbiddenError('only the owner may change a playlist');
    p.updatedAt = new Date().toISOString();
    return p;
  };
  const checkTracks = (ids: string[]) => {
    for (const id of ids)
      if (!w.tracks.some((t) => t.id === id)) throw new NotFoundError(`track ${id} not found`);
  };
  const at = (p: FakePlaylist, position: number) => {
    if (position >= p.trackIds.length) throw new InvalidInputError(`no track at position ${position}`);
    return position;
  };
  return {
    create: async ({ name, public: isPublic, trackIds }, ctx) => {
      const caller = callerOf(ctx);
      checkTracks(trackIds ?? []);
      const p: FakePlaylist = {
        id: randomUUID(),
        ownerId: caller.userId,
        name,
        public: isPublic,
        trackIds: [...(trackIds ?? [])],
        createdAt: NOW,
        updatedAt: NOW,
      };
      w.playlists.set(p.id, p);
      return detail(p);
    },
    list: async ({ ownerId }, ctx) => {
      const mine = ownerId === undefined || ownerId === ctx.caller?.userId;
      const owner = ownerId ?? callerOf(ctx).userId;
      return [...w.playlists.values()].filter((p) => p.ownerId === owner && (mine || p.public)).map(summary);
    },
    get: async ({ id, offset, limit }, ctx) => detail(visible(id, ctx), offset, limit),
    rename: async ({ id, name }, ctx) => {
      const p = owned(id, ctx);
      p.name = name;
      return summary(p);
    },
    setPublic: async ({ id, public: isPublic }, ctx) => {
      const p = owned(id, ctx);
      p.public = isPublic;
      return summary(p);
    },
    delete: async ({ id }, ctx) => {
      w.playlists.delete(owned(id, ctx).id);
      return { deleted: true };
    },
    addTracks: async ({ id, trackIds, position }, ctx) => {
      const p = owned(id, ctx);
      checkTracks(trackIds);
      p.trackIds.splice(position ?? p.trackIds.length, 0, ...trackIds);
      return detail(p);
    },
    removeTrack: async ({ id, position }, ctx) => {
      const p = owned(id, ctx);
      p.trackIds.splice(at(p, position), 1);
      return detail(p);
    },
    moveTrack: async ({ id, from, to }, ctx) => {
      const p = owned(id, ctx);
      const [moved] = p.trackIds.splice(at(p, from), 1);
      p.trackIds.splice(Math.min(to, p.trackIds.length), 0, moved!);
      return detail(p);
    },
  };
}

function playsOf(w: FakeWorld, ctx: CallContext) {
  return w.plays.filter((p) => p.userId === callerOf(ctx).userId);
}

function topOf(plays: FakeWorld['plays'], limit: number): TrackCount[] {
  const by = new Map<string, number>();
  for (const p of plays) by.set(p.trackId, (by.get(p.trackId) ?? 0) + 1);
  return [...by]
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([trackId, plays]) => ({ trackId, plays }));
}

function historyHandlers(w: FakeWorld): Fake<typeof historyContract> {
  return {
    recent: async ({ limit }, ctx) =>
      playsOf(w, ctx)
        .slice(-limit)
        .reverse()
        .map((p, i): Play => {
          const t = w.tracks.find((x) => x.id === p.trackId);
          return {
            eventId: `e${i}`,
            trackId: p.trackId,
            title: t?.title ?? null,
            artistName: t?.artistName ?? null,
            albumTitle: t?.albumTitle ?? null,
            playedAt: p.playedAt,
            msPlayed: p.msPlayed,
            source: 'api',
          };
        }),
  };
}

function statsHandlers(w: FakeWorld): Fake<typeof statsContract> {
  return {
    topTracks: async ({ limit }) =>
      topOf(w.plays, limit).map((t) => ({
        ...t,
        listeners: new Set(w.plays.filter((p) => p.trackId === t.trackId).map((p) => p.userId)).size,
      })),
    user: async ({ limit }, ctx) => {
      const plays = playsOf(w, ctx);
      return {
        userId: ctx.caller.userId,
        totalPlays: plays.length,
        totalMs: plays.reduce((sum, p) => sum + p.msPlayed, 0),
        distinctTracks: new Set(plays.map((p) => p.trackId)).size,
        topTracks: topOf(plays, limit),
        lastPlayedAt: plays.at(-1)?.playedAt ?? null,
      };
    },
    overview: async () => ({
      totalPlays: w.plays.length,
      activeUsers: new Set(w.plays.map((p) => p.userId)).size,
      perMinute: [],
      registeredUsers: w.users.size,
      playlistChanges: 0,
    }),
  };
}

/**
 * The methods a fake implements. Contracts grow while the gateway does not use the new
 * methods, so the rest answer "not implemented" instead of breaking every gateway test.
 */
type Fake<C extends Contract> = Partial<Handlers<C>>;

/** Completes a fake and wraps every handler so the world records what was called, by whom, under which trace. */
function recorded<C extends Contract>(w: FakeWorld, contract: C, handlers: Fake<C>): Handlers<C> {
  const out: Record<string, (params: unknown, ctx: CallContext) => Promise<unknown>> = {};
  const impl = handlers as Record<string, ((p: unknown, c: CallContext) => Promise<unknown>) | undefined>;
  for (const name of Object.keys(contract.methods)) {
    const method = `${contract.service}.${name}`;
    const handler = impl[name];
    out[name] = async (params, ctx) => {
      w.calls.push({
        method,
        traceId: ctx.traceId,
        caller: ctx.caller,
        clientAddress: ctx.clientAddress,
        params,
      });
      const delay = w.delays.get(method);
      if (delay) await new Promise((resolve) => setTimeout(resolve, delay));
      if (w.faults.has(method)) throw new Error(`${method} crashed: secret internals`);
      if (!handler) throw new InternalError(`${method} is not implemented by the fake`);
      return handler(params, ctx);
    };
  }
  return out as Handlers<C>;
}

interface Worker {
  start(): Promise<void>;
  stop(): Promise<void>;
}

export type FakeServiceName = ServiceName;

/** The five fake services on one broker; each can be stopped (and restarted) on its own. */
export class FakeServices {
  readonly world: FakeWorld;
  private readonly servers = new Map<FakeServiceName, Worker>();
  private readonly make: Record<FakeServiceName, () => Worker>;

  constructor(broker: Broker, audioPath: string) {
    const w = makeWorld(audioPath);
    this.world = w;
    const serve =
      <C extends Contract>(contract: C, handlers: Fake<C>) =>
      (): Worker =>
        new RpcServer({ broker, contract, handlers: recorded(w, contract, handlers), logger: silentLogger });
    this.make = {
      catalog: serve(catalogContract, catalogHandlers(w)),
      users: serve(usersContract, usersHandlers(w)),
      playlists: serve(playlistsContract, playlistsHandlers(w)),
      history: serve(historyContract, historyHandlers(w)),
      stats: serve(statsContract, statsHandlers(w)),
    };
  }

  async start(name?: FakeServiceName): Promise<void> {
    const names = name ? [name] : (Object.keys(this.make) as FakeServiceName[]);
    for (const n of names) {
      if (this.servers.has(n)) continue;
      const server = this.make[n]();
      await server.start();
      this.servers.set(n, server);
    }
  }

  /** Stops consuming: the request queue stays, so calls to the service time out. */
  async stop(name?: FakeServiceName): Promise<void> {
    const names = name ? [name] : [...this.servers.keys()];
    for (const n of names) {
      await this.servers.get(n)?.stop();
      this.servers.delete(n);
    }
  }

  /** Calls of `method` served since `since` (an index into world.calls). */
  callsOf(method: string, since = 0) {
    return this.world.calls.slice(since).filter((c) => c.method === method);
  }

  /** A registered user with a live session token. */
  async session(username = `u${randomUUID().slice(0, 8)}`): Promise<{ user: User; token: string }> {
    register(this.world, username, 'password1');
    const { token, user } = login(this.world, username, 'password1');
    return { user, token };
  }
}
