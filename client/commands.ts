/**
 * The command table: every command's name, usage, help and handler, in one place used by
 * both the interactive prompt and one-shot mode.
 */
import { randomUUID } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import {
  PAGE_DEFAULT_LIMIT,
  PAGE_MAX_LIMIT,
  type PlaylistDetail,
  SHARE_KINDS,
  type ShareKind,
  type Track,
  WINDOWS,
} from '../common/contracts/index.js';
import { type Api, ApiError, type TopWindow } from './api.js';
import { type FlagSpec, type Flags, intArg, parseFlags, UsageError } from './args.js';
import { type Delivery, deliveryNote, sendUnsentPlays } from './delivery.js';
import { play } from './player.js';
import { duration, nowPlaying, type Style, table } from './render.js';
import type { ClientState, Store } from './store.js';
import {
  albumView,
  artistTable,
  artistView,
  historyTable,
  lyricsView,
  meView,
  playlistTable,
  playlistView,
  reportView,
  scrobblingView,
  searchView,
  shareTable,
  shareView,
  topTable,
  trackTable,
  userTable,
} from './views.js';

/** How a command talks to the person at the terminal; parts are missing when nobody is there. */
export interface Io {
  /** Asks a question (hidden input for passwords). */
  ask?(question: string, hidden?: boolean): Promise<string>;
  /** Redraws a one-line status (the progress bar). */
  status?(line: string): void;
  /** Ends the status line. */
  endStatus?(): void;
}

export interface Context {
  gateway: string;
  api: Api;
  store: Store;
  style: Style;
  io: Io;
  /** Set for the prompt, where `quit` means something. */
  interactive: boolean;
  /** Aborted by Ctrl-C while a command runs. */
  signal: AbortSignal;
  /** The user asked for raw JSON: no decoration, no progress bar. */
  json: boolean;
}

export interface Output {
  /** The raw result (`--json` prints it). */
  data: unknown;
  /** The result for people. */
  text: string;
  /** The prompt should end. */
  quit?: boolean;
}

export interface Command {
  /** One or two words: `playlist create`. */
  name: string;
  /** Arguments after the name, for help. */
  usage: string;
  summary: string;
  /** Smallest and largest number of arguments. */
  arity: [number, number];
  flags?: FlagSpec;
  /** Needs a logged-in user. */
  auth?: boolean;
  run(ctx: Context, args: string[], flags: Flags): Promise<Output>;
}

const PLAY_FLAGS: FlagSpec = { 'no-audio': 'bool', speed: 'value' };
const ANY = Number.POSITIVE_INFINITY;

// --- helpers shared by the handlers -------------------------------------------------------------

/** Remembers the rows of a track listing, so `#n` can refer to them. */
function remember(ctx: Context, tracks: Track[]): void {
  ctx.store.saveState({ ...ctx.store.state(), listing: tracks.map((t) => t.id) });
}

async function readText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${path}: ${(err as Error).message}`);
  }
}

/** JSON given inline, or `@path` for a file holding it. */
async function jsonArg(text: string, what: string): Promise<unknown> {
  const source = text.startsWith('@') ? await readText(text.slice(1)) : text;
  try {
    return JSON.parse(source);
  } catch (err) {
    throw new UsageError(`${what} must be JSON (or @file): ${(err as Error).message}`);
  }
}

function rulesFlag(flags: Flags): Promise<unknown> {
  if (typeof flags.rules !== 'string')
    throw new UsageError("give the rules: --rules '<json>' or --rules @file");
  return jsonArg(flags.rules, '--rules');
}

/** A playlist's tracks, which become the listing `#n` refers to. */
function showPlaylist(ctx: Context, p: PlaylistDetail): Output {
  remember(
    ctx,
    p.tracks.map((e) => e.track),
  );
  return { data: p, text: playlistView(p, ctx.style) };
}

/** `#3` is the third row of the last listing; anything else is a track id. */
function trackRef(state: ClientState, ref: string): string {
  if (!ref.startsWith('#')) return ref;
  const row = intArg(ref.slice(1), `row number ${ref}`, 1);
  const id = state.listing[row - 1];
  if (id === undefined) {
    throw new UsageError(
      state.listing.length === 0
        ? `no listing to take ${ref} from yet (list some tracks first)`
        : `the last listing has ${state.listing.length} rows, not ${row}`,
    );
  }
  return id;
}

/** A whole-number option, if given. */
function intFlag(flags: Flags, name: string, min: number, max?: number): number | undefined {
  const raw = flags[name];
  return raw === undefined ? undefined : intArg(String(raw), `--${name}`, min, max);
}

/** `--expires 7d` / `12h` / `never` as an expiry date (null: never). */
function expiresFlag(flags: Flags): string | null {
  const raw = flags.expires;
  if (raw === undefined || raw === 'never') return null;
  const m = /^(\d{1,4})([dh])$/.exec(String(raw));
  if (!m) throw new UsageError('--expires takes a number of days or hours (7d, 12h) or never');
  const hours = Number(m[1]) * (m[2] === 'd' ? 24 : 1);
  if (hours < 1) throw new UsageError('--expires must be at least an hour');
  return new Date(Date.now() + hours * 3_600_000).toISOString();
}

/** A 1-based position as shown in the # column, sent to the API as 0-based. */
const position = (raw: string | undefined, what: string) => intArg(raw, what, 1) - 1;

function scrobbleService(name: string): 'listenbrainz' | 'lastfm' {
  if (name === 'listenbrainz' || name === 'lastfm') return name;
  throw new UsageError(`no scrobbling service ${name}: listenbrainz or lastfm`);
}

async function ask(ctx: Context, question: string, hidden = false): Promise<string> {
  if (!ctx.io.ask)
    throw new UsageError(`${question.replace(/:\s*$/, '')} is needed (give it as an argument)`);
  return (await ctx.io.ask(question, hidden)).trim();
}

function speedOf(flags: Flags): number {
  const raw = typeof flags.speed === 'string' ? flags.speed : process.env.MUSIC_CLIENT_SPEED;
  if (raw === undefined || raw === '') return 1;
  const speed = Number(raw);
  if (!Number.isFinite(speed) || speed <= 0 || speed > 100_000) {
    throw new UsageError('speed must be a number above 0 (e.g. --speed 20)');
  }
  return speed;
}

async function playTrack(ctx: Context, id: string, flags: Flags): Promise<Output> {
  const speed = speedOf(flags);
  const track = await ctx.api.track(id);
  const startedAt = new Date().toISOString();
  const label = `${track.title} — ${track.artistName}`;
  const status = ctx.json ? undefined : ctx.io.status;
  const draw = (ms: number) =>
    status?.(nowPlaying(label, ms, track.durationMs, process.stderr.columns || 80));
  draw(0);
  const playback = await play(ctx.api, track, {
    audio: !flags['no-audio'],
    speed,
    signal: ctx.signal,
    onTick: draw,
  }).finally(() => {
    if (status) ctx.io.endStatus?.();
  });
  // The listened time counts even when playback was stopped or the player failed midway;
  // a player that never ran played nothing. The play is kept on disk before it is sent, with
  // any kept earlier, so a gateway that is away when the track ends loses nothing.
  let delivery: Delivery = { sent: 0, kept: 0, dropped: 0 };
  if (!(playback.failure && playback.msPlayed === 0)) {
    const userId = ctx.store.session()?.user.id ?? '';
    ctx.store.keepPlay({
      userId,
      trackId: track.id,
      msPlayed: playback.msPlayed,
      playedAt: startedAt,
      playId: randomUUID(),
    });
    delivery = await sendUnsentPlays(ctx.api, ctx.store, userId);
  }
  if (playback.failure) throw new Error(`${playback.failure}${deliveryNote(delivery, ctx.style)}`);
  const data = {
    trackId: track.id,
    title: track.title,
    artistName: track.artistName,
    durationMs: track.durationMs,
    msPlayed: playback.msPlayed,
    completed: playback.completed,
    player: playback.player,
    unsentPlays: delivery.kept,
  };
  const how = playback.player ? `with ${playback.player}` : 'without audio';
  const verb = playback.completed ? 'played' : 'stopped';
  return {
    data,
    text: `${verb} ${label} (${duration(playback.msPlayed)} of ${duration(track.durationMs)}, ${how})${deliveryNote(delivery, ctx.style)}`,
  };
}

function topWindow(raw: string | true | undefined): TopWindow {
  const window = raw === undefined ? 'all' : raw;
  if (!(WINDOWS as readonly unknown[]).includes(window)) {
    throw new UsageError(`--window must be ${WINDOWS.slice(0, -1).join(', ')} or ${WINDOWS.at(-1)}`);
  }
  return window as TopWindow;
}

async function startSession(ctx: Context, username: string, password: string) {
  const session = await ctx.api.login(username, password);
  ctx.store.saveSession({
    gateway: ctx.gateway,
    token: session.token,
    expiresAt: session.expiresAt,
    user: { id: session.user.id, username: session.user.username },
  });
  ctx.api.token = session.token;
  // The token stays in the session file: a result that may end up in logs does not carry it.
  return {
    data: { user: session.user, expiresAt: session.expiresAt },
    text: `logged in as ${session.user.username}`,
  };
}

// --- the table ----------------------------------------------------------------------------------

export const COMMANDS: Command[] = [
  {
    name: 'artists',
    usage: '',
    summary: 'list all artists',
    arity: [0, 0],
    async run(ctx) {
      const page = await ctx.api.artists();
      return { data: page, text: artistTable(page.items, ctx.style) };
    },
  },
  {
    name: 'artist',
    usage: '<artistId>',
    summary: 'an artist and their albums',
    arity: [1, 1],
    async run(ctx, [id]) {
      const artist = await ctx.api.artist(id!);
      return { data: artist, text: artistView(artist, ctx.style) };
    },
  },
  {
    name: 'album',
    usage: '<albumId>',
    summary: 'an album and its tracks',
    arity: [1, 1],
    async run(ctx, [id]) {
      const album = await ctx.api.album(id!);
      remember(ctx, album.tracks);
      return { data: album, text: albumView(album, ctx.style) };
    },
  },
  {
    name: 'tracks',
    usage: '[--genre g] [--limit n] [--offset n]',
    summary: 'list tracks, optionally of one genre',
    arity: [0, 0],
    flags: { genre: 'value', limit: 'value', offset: 'value' },
    async run(ctx, _args, flags) {
      const page = await ctx.api.tracks({
        ...(typeof flags.genre === 'string' ? { genre: flags.genre } : {}),
        limit: intFlag(flags, 'limit', 1, PAGE_MAX_LIMIT) ?? PAGE_DEFAULT_LIMIT,
        offset: intFlag(flags, 'offset', 0) ?? 0,
      });
      remember(ctx, page.items);
      const shown =
        page.items.length === 0
          ? `none of ${page.total}`
          : `${page.offset + 1}-${page.offset + page.items.length} of ${page.total}`;
      return {
        data: page,
        text: `${trackTable(page.items, ctx.style)}\n${ctx.style.dim(`tracks ${shown}`)}`,
      };
    },
  },
  {
    name: 'lyrics',
    usage: '<trackId|#n>',
    summary: "a track's lyrics (synced lines with their time)",
    arity: [1, 1],
    async run(ctx, [ref]) {
      const lyrics = await ctx.api.lyrics(trackRef(ctx.store.state(), ref!));
      return { data: lyrics, text: lyricsView(lyrics, ctx.style) };
    },
  },
  {
    name: 'scrobble',
    usage: '[link listenbrainz|link lastfm [sessionKey]|unlink <service>|earlier <service>]',
    summary: 'send your plays to ListenBrainz or Last.fm: links, their state, earlier plays',
    arity: [0, 3],
    auth: true,
    async run(ctx, [action, name, key]) {
      const service = name === undefined ? undefined : scrobbleService(name);
      if (action === 'link' && service === 'listenbrainz') {
        // From the environment for scripts (a token on the command line would stay in the shell's history).
        const token =
          process.env.LISTENBRAINZ_TOKEN ||
          (await ask(ctx, 'ListenBrainz user token (listenbrainz.org/settings): ', true));
        await ctx.api.linkScrobbling(service, { token });
      } else if (action === 'link' && service === 'lastfm' && key !== undefined) {
        await ctx.api.linkScrobbling(service, { sessionKey: key });
      } else if (action === 'link' && service === 'lastfm') {
        const { url, authToken } = await ctx.api.lastfmAuthorize();
        await ask(ctx, `allow this server on ${url} , then press Enter: `);
        await ctx.api.linkScrobbling(service, { authToken });
      } else if (action === 'unlink' && service) {
        await ctx.api.unlinkScrobbling(service);
      } else if (action === 'earlier' && service) {
        await ctx.api.sendEarlierPlays(service);
      } else if (action !== undefined) {
        throw new UsageError(
          'scrobble [link listenbrainz|link lastfm [sessionKey]|unlink <service>|earlier <service>]',
        );
      }
      const status = await ctx.api.scrobbling();
      return { data: status, text: scrobblingView(status, ctx.style) };
    },
  },
  {
    name: 'search',
    usage: '<words...>',
    summary: 'find artists, albums and tracks',
    arity: [1, ANY],
    async run(ctx, words) {
      const result = await ctx.api.search(words.join(' '));
      remember(ctx, result.tracks);
      return { data: result, text: searchView(result, ctx.style) };
    },
  },
  {
    name: 'play',
    usage: '<trackId|#n> [--no-audio] [--speed N]',
    summary: 'play a track (#n: row n of the last listing); Ctrl-C stops it',
    arity: [1, 1],
    flags: PLAY_FLAGS,
    auth: true,
    run: (ctx, [ref], flags) => playTrack(ctx, trackRef(ctx.store.state(), ref!), flags),
  },
  {
    name: 'queue',
    usage: '[trackId|#n ...] [--clear]',
    summary: 'add tracks to the play queue, or show it',
    arity: [0, ANY],
    flags: { clear: 'bool' },
    async run(ctx, refs, flags) {
      const state = ctx.store.state();
      const queue = flags.clear ? [] : [...state.queue];
      const added = refs.map((ref) => trackRef(state, ref));
      // Unknown ids are refused now rather than when `next` reaches them.
      await Promise.all(added.map((id) => ctx.api.track(id)));
      queue.push(...added);
      ctx.store.saveState({ ...state, queue });
      const tracks = await Promise.all(queue.map((id) => ctx.api.track(id)));
      return {
        data: { queue },
        text: `${trackTable(tracks, ctx.style)}\n${ctx.style.dim(`${queue.length} queued`)}`,
      };
    },
  },
  {
    name: 'next',
    usage: '[--no-audio] [--speed N]',
    summary: 'play the next track of the queue',
    arity: [0, 0],
    flags: PLAY_FLAGS,
    auth: true,
    async run(ctx, _args, flags) {
      const state = ctx.store.state();
      const [id, ...rest] = state.queue;
      if (id === undefined) throw new UsageError('the queue is empty (add tracks with `queue <trackId...>`)');
      ctx.store.saveState({ ...state, queue: rest });
      return playTrack(ctx, id, flags);
    },
  },
  {
    name: 'share',
    usage: '<track|album|playlist> <id|#n> [--expires 7d|12h|never] [--description text] [--download]',
    summary: 'a link that plays a track, an album or your playlist for anyone, without an account',
    arity: [2, 2],
    flags: { expires: 'value', description: 'value', download: 'bool' },
    auth: true,
    async run(ctx, [kind, ref], flags) {
      if (!(SHARE_KINDS as readonly string[]).includes(kind!)) {
        throw new UsageError(`share what: ${SHARE_KINDS.join(', ')} (not ${kind})`);
      }
      const id = kind === 'track' ? trackRef(ctx.store.state(), ref!) : ref!;
      const created = await ctx.api.createShare({
        kind: kind as ShareKind,
        id,
        expiresAt: expiresFlag(flags),
        downloadable: flags.download === true,
        ...(typeof flags.description === 'string' ? { description: flags.description } : {}),
      });
      return { data: created, text: shareView(created, ctx.gateway, ctx.style) };
    },
  },
  {
    name: 'shares',
    usage: '',
    summary: 'your share links: what each plays, visits, expiry, link',
    arity: [0, 0],
    auth: true,
    async run(ctx) {
      const shares = await ctx.api.shares();
      return { data: shares, text: shareTable(shares, ctx.gateway, ctx.style) };
    },
  },
  {
    name: 'unshare',
    usage: '<shareId>',
    summary: 'delete a share link (it stops working at once)',
    arity: [1, 1],
    auth: true,
    async run(ctx, [id]) {
      const result = await ctx.api.deleteShare(id!);
      return { data: result, text: `deleted share ${id}` };
    },
  },
  {
    name: 'playlists',
    usage: '',
    summary: 'your playlists',
    arity: [0, 0],
    auth: true,
    async run(ctx) {
      const lists = await ctx.api.playlists();
      return { data: lists, text: playlistTable(lists, ctx.style) };
    },
  },
  {
    name: 'playlist',
    usage: '<playlistId> [--limit n] [--offset n]',
    summary: 'a playlist and its tracks (500 at a time; --offset shows later ones)',
    arity: [1, 1],
    flags: { limit: 'value', offset: 'value' },
    auth: true,
    async run(ctx, [id], flags) {
      const p = await ctx.api.playlist(id!, {
        limit: intFlag(flags, 'limit', 1, PAGE_MAX_LIMIT) ?? PAGE_MAX_LIMIT,
        offset: intFlag(flags, 'offset', 0) ?? 0,
      });
      return showPlaylist(ctx, p);
    },
  },
  {
    name: 'playlist create',
    usage: '<name...> [--public]',
    summary: 'create a playlist (private unless --public)',
    arity: [1, ANY],
    flags: { public: 'bool' },
    auth: true,
    async run(ctx, words, flags) {
      const p = await ctx.api.createPlaylist(words.join(' '), flags.public === true);
      return { data: p, text: `created playlist ${p.id} "${p.name}" (${p.public ? 'public' : 'private'})` };
    },
  },
  {
    name: 'playlist smart',
    usage: "<name...> --rules '<json>'|@file [--public]",
    summary: 'create a smart playlist: its tracks are what its rules pick (docs/ARCHITECTURE.md)',
    arity: [1, ANY],
    flags: { rules: 'value', public: 'bool' },
    auth: true,
    async run(ctx, words, flags) {
      const p = await ctx.api.createSmartPlaylist(
        words.join(' '),
        await rulesFlag(flags),
        flags.public === true,
      );
      return showPlaylist(ctx, p);
    },
  },
  {
    name: 'playlist rules',
    usage: "<playlistId> '<json>'|@file",
    summary: "replace a smart playlist's rules",
    arity: [2, 2],
    auth: true,
    async run(ctx, [id, rules]) {
      const p = await ctx.api.setPlaylistRules(id!, await jsonArg(rules!, 'rules'));
      return showPlaylist(ctx, p);
    },
  },
  {
    name: 'playlist import',
    usage: '<file.nsp> [--name name] [--public]',
    summary: "a smart playlist from a Navidrome .nsp file (refused, naming them, when fields don't map)",
    arity: [1, 1],
    flags: { name: 'value', public: 'bool' },
    auth: true,
    async run(ctx, [file], flags) {
      const nsp = await readText(file!);
      const name = typeof flags.name === 'string' ? flags.name : undefined;
      const p = await ctx.api.importNsp(nsp, { ...(name ? { name } : {}), public: flags.public === true });
      return showPlaylist(ctx, p);
    },
  },
  {
    name: 'playlist export',
    usage: '<playlistId> [file]',
    summary: 'write a playlist as an .m3u8 file (to stdout without a file; - for stdout)',
    arity: [1, 2],
    auth: true,
    async run(ctx, [id, file]) {
      const exported = await ctx.api.exportPlaylist(id!);
      const leftOut = exported.leftOut > 0 ? ` (${exported.leftOut} tracks you cannot play left out)` : '';
      if (!file || file === '-') return { data: exported, text: exported.text.trimEnd() };
      await writeFile(file, exported.text, 'utf8');
      return { data: { ...exported, file }, text: `wrote ${file}${leftOut}` };
    },
  },
  {
    name: 'playlist add',
    usage: '<playlistId> <trackId|#n ...> [--at position]',
    summary: 'add tracks (at the end, or before the given position)',
    arity: [2, ANY],
    flags: { at: 'value' },
    auth: true,
    async run(ctx, [id, ...refs], flags) {
      const state = ctx.store.state();
      const ids = refs.map((ref) => trackRef(state, ref));
      const at = intFlag(flags, 'at', 1);
      const p = await ctx.api.addTracks(id!, ids, at === undefined ? undefined : at - 1);
      return showPlaylist(ctx, p);
    },
  },
  {
    name: 'playlist remove',
    usage: '<playlistId> <position>',
    summary: 'remove the track at a position (the # column)',
    arity: [2, 2],
    auth: true,
    async run(ctx, [id, pos]) {
      const p = await ctx.api.removeTrack(id!, position(pos, 'position'));
      return showPlaylist(ctx, p);
    },
  },
  {
    name: 'playlist move',
    usage: '<playlistId> <from> <to>',
    summary: 'move a track to another position',
    arity: [3, 3],
    auth: true,
    async run(ctx, [id, from, to]) {
      const p = await ctx.api.moveTrack(id!, position(from, 'from'), position(to, 'to'));
      return showPlaylist(ctx, p);
    },
  },
  {
    name: 'playlist rename',
    usage: '<playlistId> <name...>',
    summary: 'rename a playlist',
    arity: [2, ANY],
    auth: true,
    async run(ctx, [id, ...words]) {
      const p = await ctx.api.updatePlaylist(id!, { name: words.join(' ') });
      return { data: p, text: `renamed playlist ${p.id} to "${p.name}"` };
    },
  },
  {
    name: 'playlist public',
    usage: '<playlistId> yes|no',
    summary: 'make a playlist public or private',
    arity: [2, 2],
    auth: true,
    async run(ctx, [id, answer]) {
      if (answer !== 'yes' && answer !== 'no') throw new UsageError('say yes or no');
      const p = await ctx.api.updatePlaylist(id!, { public: answer === 'yes' });
      return { data: p, text: `playlist ${p.id} is now ${p.public ? 'public' : 'private'}` };
    },
  },
  {
    name: 'playlist delete',
    usage: '<playlistId>',
    summary: 'delete a playlist',
    arity: [1, 1],
    auth: true,
    async run(ctx, [id]) {
      const data = (await ctx.api.deletePlaylist(id!)) ?? { deleted: true };
      return { data, text: `deleted playlist ${id}` };
    },
  },
  {
    name: 'history',
    usage: '[--limit n]',
    summary: 'what you played lately, newest first',
    arity: [0, 0],
    flags: { limit: 'value' },
    auth: true,
    async run(ctx, _args, flags) {
      const limit = intFlag(flags, 'limit', 1, 500);
      const plays = await ctx.api.history(limit);
      ctx.store.saveState({ ...ctx.store.state(), listing: plays.map((p) => p.trackId) });
      return { data: plays, text: historyTable(plays, ctx.style) };
    },
  },
  {
    name: 'top',
    usage: `[--window ${WINDOWS.join('|')}] [--limit n]`,
    summary: 'the most played tracks',
    arity: [0, 0],
    flags: { window: 'value', limit: 'value' },
    async run(ctx, _args, flags) {
      const window = topWindow(flags.window);
      const limit = intFlag(flags, 'limit', 1, 100);
      const top = await ctx.api.topTracks(window, limit);
      remember(ctx, top);
      const caption = { hour: 'in the last hour', day: 'in the last day', all: 'of all time' }[window];
      return { data: top, text: `${topTable(top, ctx.style)}\n${ctx.style.dim(`most played ${caption}`)}` };
    },
  },
  {
    name: 'me',
    usage: '',
    summary: 'who you are logged in as, and your listening totals',
    arity: [0, 0],
    auth: true,
    async run(ctx) {
      const [user, stats] = await Promise.all([ctx.api.me(), ctx.api.myStats()]);
      return { data: { user, stats }, text: meView(user, stats, ctx.style) };
    },
  },
  {
    name: 'report',
    usage: '[--year YYYY | --month YYYY-MM]',
    summary:
      'your listening report: minutes, top tracks, artists, albums, genres, streaks (default: this year)',
    arity: [0, 0],
    flags: { year: 'value', month: 'value' },
    auth: true,
    async run(ctx, _args, flags) {
      if (flags.year !== undefined && flags.month !== undefined)
        throw new UsageError('give --year or --month, not both');
      let period: { year: number } | { month: string } = { year: new Date().getUTCFullYear() };
      if (typeof flags.month === 'string') {
        if (!/^\d{4}-(0[1-9]|1[0-2])$/.test(flags.month))
          throw new UsageError('--month must look like 2026-11');
        period = { month: flags.month };
      } else if (flags.year !== undefined) period = { year: intFlag(flags, 'year', 1970, 9999)! };
      const report = await ctx.api.report(period);
      return { data: report, text: reportView(report, ctx.style) };
    },
  },
  {
    name: 'users',
    usage: '[--query text] [--limit n] [--offset n]',
    summary: 'every account, oldest first (administrators only)',
    arity: [0, 0],
    flags: { query: 'value', limit: 'value', offset: 'value' },
    auth: true,
    async run(ctx, _args, flags) {
      const page = await ctx.api.users({
        query: typeof flags.query === 'string' ? flags.query : undefined,
        limit: intFlag(flags, 'limit', 1, PAGE_MAX_LIMIT) ?? PAGE_DEFAULT_LIMIT,
        offset: intFlag(flags, 'offset', 0) ?? 0,
      });
      const more =
        page.total > page.offset + page.items.length ? `\n(${page.total} in all; --offset for more)` : '';
      return { data: page, text: `${userTable(page.items, ctx.style)}${more}` };
    },
  },
  {
    name: 'user add',
    usage: '<username> [password] [--admin]',
    summary: 'make an account (asks for the password when not given; administrators only)',
    arity: [1, 2],
    flags: { admin: 'bool' },
    auth: true,
    async run(ctx, [username, pass], flags) {
      const password = pass ?? (await ask(ctx, `password for ${username}: `, true));
      const made = await ctx.api.createUser({ username: username!, password, admin: Boolean(flags.admin) });
      return { data: made, text: `made ${made.username}${made.admin ? ' (admin)' : ''}` };
    },
  },
  ...(
    [
      ['disable', 'disable an account: it cannot log in, its sessions end', { disabled: true }],
      ['enable', 'enable a disabled account', { disabled: false }],
      ['admin', 'make an account an administrator', { admin: true }],
      ['unadmin', 'make an administrator an ordinary user', { admin: false }],
    ] as const
  ).map(
    ([verb, summary, change]): Command => ({
      name: `user ${verb}`,
      usage: '<username>',
      summary: `${summary} (administrators only)`,
      arity: [1, 1],
      auth: true,
      async run(ctx, [username]) {
        const user = await ctx.api.userNamed(username!);
        const changed = await ctx.api.updateUser(user.id, change);
        const state = `${changed.admin ? 'admin' : 'user'}, ${changed.disabled ? 'disabled' : 'enabled'}`;
        return { data: changed, text: `${changed.username}: ${state}` };
      },
    }),
  ),
  {
    name: 'user password',
    usage: '<username> [password]',
    summary: 'set a new password for an account; its sessions end (administrators only)',
    arity: [1, 2],
    auth: true,
    async run(ctx, [username, pass]) {
      const user = await ctx.api.userNamed(username!);
      const password = pass ?? (await ask(ctx, `new password for ${user.username}: `, true));
      const changed = await ctx.api.updateUser(user.id, { password });
      return {
        data: changed,
        text: `new password for ${changed.username}; ${changed.revokedSessions} sessions ended`,
      };
    },
  },
  {
    name: 'user delete',
    usage: '<username>',
    summary: 'delete an account and what this server keeps of it (administrators only)',
    arity: [1, 1],
    auth: true,
    async run(ctx, [username]) {
      const user = await ctx.api.userNamed(username!);
      return { data: await ctx.api.deleteUser(user.id), text: `deleted ${user.username}` };
    },
  },
  {
    name: 'login',
    usage: '[username] [password]',
    summary: 'log in (asks for what is missing)',
    arity: [0, 2],
    async run(ctx, [user, pass]) {
      const username = user ?? (await ask(ctx, 'username: '));
      const password = pass ?? (await ask(ctx, 'password: ', true));
      return startSession(ctx, username, password);
    },
  },
  {
    name: 'register',
    usage: '[username] [password]',
    summary: 'create an account and log in',
    arity: [0, 2],
    async run(ctx, [user, pass]) {
      const username = user ?? (await ask(ctx, 'choose a username: '));
      const password = pass ?? (await ask(ctx, 'choose a password (8+ characters): ', true));
      if (pass === undefined && ctx.io.ask) {
        const again = await ask(ctx, 'repeat the password: ', true);
        if (again !== password) throw new UsageError('the passwords differ');
      }
      await ctx.api.register(username, password);
      const out = await startSession(ctx, username, password);
      return { ...out, text: `registered; ${out.text}` };
    },
  },
  {
    name: 'logout',
    usage: '',
    summary: 'end the session on the server and forget it here',
    arity: [0, 0],
    async run(ctx) {
      // Forgotten here whatever the gateway says: an expired or already ended session, or a
      // gateway that is away, still leaves this client logged out.
      const ended = ctx.api.token
        ? await ctx.api.logout().then(
            () => true,
            () => false,
          )
        : false;
      ctx.store.clearSession();
      ctx.api.token = undefined;
      return {
        data: { loggedOut: true, sessionEnded: ended },
        text: ended ? 'logged out' : 'logged out here (the gateway did not confirm ending the session)',
      };
    },
  },
  {
    name: 'help',
    usage: '[command]',
    summary: 'this list, or one command in detail',
    arity: [0, 2],
    async run(ctx, words) {
      if (words.length > 0) {
        const found = findCommand(words);
        if (!found || found.rest.length > 0) throw new UsageError(`no command "${words.join(' ')}"`);
        const c = found.command;
        return {
          data: describe(c),
          text: `${ctx.style.bold(`${c.name} ${c.usage}`.trim())}\n  ${c.summary}`,
        };
      }
      const rows = COMMANDS.map((c) => [`${c.name} ${c.usage}`.trim(), c.summary]);
      const text = [
        table([{ header: 'command' }, { header: 'what it does' }], rows, ctx.style),
        '',
        ctx.style.dim(
          'Every command takes --json for the raw result. #n is row n of the last track listing.',
        ),
      ].join('\n');
      return { data: COMMANDS.map(describe), text };
    },
  },
  {
    name: 'quit',
    usage: '',
    summary: 'leave the client (also Ctrl-D)',
    arity: [0, 0],
    async run() {
      return { data: null, text: '', quit: true };
    },
  },
];

function describe(c: Command) {
  return { name: c.name, usage: c.usage, summary: c.summary };
}

/** The command named by the first one or two words (the longer name wins), and the words after it. */
export function findCommand(words: string[]): { command: Command; rest: string[] } | undefined {
  const two = words.slice(0, 2).join(' ');
  const byTwo = COMMANDS.find((c) => c.name === two && words.length >= 2);
  if (byTwo) return { command: byTwo, rest: words.slice(2) };
  const byOne = COMMANDS.find((c) => c.name === words[0]);
  return byOne ? { command: byOne, rest: words.slice(1) } : undefined;
}

/** Runs one command line (already split into words) and returns its result. */
export async function runCommand(
  words: string[],
  base: Omit<Context, 'json'>,
): Promise<Output & { json: boolean }> {
  // --json may stand anywhere, even before the command's name.
  const json = words.includes('--json');
  const plain = words.filter((w) => w !== '--json');
  const found = findCommand(plain);
  if (!found) {
    throw new UsageError(
      plain[0] ? `unknown command "${plain[0]}" (try help)` : 'no command given (try help)',
    );
  }
  const { command, rest } = found;
  const { args, flags } = parseFlags(rest, command.flags ?? {});
  const [min, max] = command.arity;
  if (args.length < min || args.length > max) {
    throw new UsageError(`usage: ${`${command.name} ${command.usage}`.trim()}`);
  }
  if (command.auth && !base.api.token) {
    throw new UsageError('not logged in: run `login` (or `register`) first');
  }
  const ctx: Context = { ...base, json };
  try {
    return { ...(await command.run(ctx, args, flags)), json };
  } catch (err) {
    if (
      err instanceof ApiError &&
      err.status === 401 &&
      command.name !== 'login' &&
      command.name !== 'register'
    ) {
      throw new ApiError(`${err.message} (log in with \`login\`)`, err.status, err.code);
    }
    throw err;
  }
}
