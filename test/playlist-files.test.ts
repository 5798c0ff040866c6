/**
 * Playlist files: `.m3u8` and `.m3u` files placed in a library folder become playlists of the
 * library's owner (here the administrator, the first account), with the tracks in the file's
 * order and the entries not found reported; they follow edits of the file and its deletion;
 * the app refuses to change them; a user who does not see the library cannot read or export
 * them; an oversized version is refused and the tracks are kept; export and import round-trip.
 * Real broker, database and gateway; the catalog's own workers watch the folder.
 */
import { spawn } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateLibrary } from '../bench/library.js';
import {
  catalogContract,
  type ManagedLibrary,
  PLAYLIST_FILE_MAX_BYTES,
  PLAYLIST_FILE_MAX_ENTRIES,
  type Playlist,
  type PlaylistDetail,
  usersContract,
} from '../common/contracts/index.js';
import { decodePlaylistFile, parsePlaylistFile } from '../services/catalog/library/m3u.js';
import { eventually } from './support/env.js';
import { type Account, type Json, subsonicClient } from './support/subsonic-client.js';
import { type SubsonicHarness, startSubsonic } from './support/subsonic-harness.js';

const FILES = 8;
const WAIT = 30_000;

describe('playlist files: .m3u / .m3u8 in a library', () => {
  let h: SubsonicHarness;
  let root: Account;
  let alice: Account;
  let bob: Account;
  let tokens: Map<string, string>;
  let dir: string;
  let library: ManagedLibrary;
  /** The library's tracks: id and path relative to the folder, in path order. */
  let tracks: Array<{ id: string; path: string }>;
  const client = subsonicClient(
    () => h.url,
    () => h.rpc.bind(usersContract),
  );
  const rest = async (who: Account | null, path: string, init: RequestInit = {}) => {
    const headers = new Headers(init.headers);
    if (who) headers.set('authorization', `Bearer ${tokens.get(who.user.id)}`);
    const res = await fetch(`${client.origin()}${path}`, { ...init, headers });
    const text = await res.text();
    let body: Json = null;
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
    return { status: res.status, headers: res.headers, body };
  };
  const send = (who: Account | null, method: string, path: string, body?: unknown) =>
    rest(who, path, {
      method,
      headers: { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  const playlistsOf = async (who: Account): Promise<Playlist[]> => (await rest(who, '/api/playlists')).body;
  /** The file playlist of `path` as `who` lists it (undefined until it is there). */
  const fileList = async (who: Account, path: string) =>
    (await playlistsOf(who)).find((p) => p.file?.path === path && p.file.libraryId === library.id);
  const detail = async (who: Account, id: string): Promise<PlaylistDetail> =>
    (await rest(who, `/api/playlists/${id}?limit=500`)).body;
  const trackIdsOf = async (who: Account, id: string) =>
    (await detail(who, id)).tracks.map((e) => e.track.id);
  const write = (path: string, text: string | Buffer) => writeFile(join(dir, path), text);
  const m3u8 = (entries: string[]) =>
    `#EXTM3U\n${entries.map((e) => `#EXTINF:3,Someone - Something\n${e}`).join('\n')}\n`;
  const t = (i: number) => tracks[i]!;

  beforeAll(async () => {
    h = await startSubsonic();
    root = await client.account('root');
    [alice, bob] = [await client.account('alice'), await client.account('bob')];
    const users = h.rpc.bind(usersContract);
    tokens = new Map();
    for (const who of [root, alice, bob]) {
      const session = await users.call('login', { username: who.user.username, password: who.password });
      tokens.set(who.user.id, session.token);
    }
    dir = await mkdtemp(join(tmpdir(), 'playlist-files-'));
    await generateLibrary({ dir, files: FILES, seed: 'playlist-files', formats: ['mp3'] });
    const added = await send(root, 'POST', '/api/libraries', { name: `Files ${client.run}`, path: dir });
    expect(added.status).toBe(201);
    library = added.body;
    // The administrator owns the library's playlist files until it has an owner, and sees it.
    for (const who of [root, alice]) {
      expect((await send(root, 'PUT', `/api/libraries/${library.id}/users/${who.user.id}`)).status).toBe(200);
    }
    await eventually(
      async () =>
        ((await rest(root, '/api/libraries/manage')).body as ManagedLibrary[]).find(
          (l) => l.id === library.id,
        )?.trackCount === FILES,
      60_000,
      200,
    );
    const catalog = h.rpc.bind(catalogContract);
    const page = await catalog.call('listTracks', { limit: 100, library: library.id });
    const paths = await catalog.call('trackPaths', { ids: page.items.map((x) => x.id) });
    tracks = paths.map((p) => ({ id: p.id, path: p.path })).sort((a, b) => (a.path < b.path ? -1 : 1));
    expect(tracks).toHaveLength(FILES);
  }, 180_000);

  afterAll(async () => {
    await h?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('makes an .m3u8 a playlist of the administrator, in the file order, reporting entries not found', async () => {
    await write(
      'mix.m3u8',
      `\uFEFF${m3u8([t(3).path, t(0).path, 'nowhere/missing.mp3', t(5).path, 'https://example.com/a.mp3'])}`,
    );
    const listed = await eventually(() => fileList(root, 'mix.m3u8'), WAIT, 200);
    expect(listed.name).toBe('mix');
    expect(listed.ownerId).toBe(root.user.id);
    expect(listed.trackCount).toBe(3);
    expect(await trackIdsOf(root, listed.id)).toEqual([t(3).id, t(0).id, t(5).id]);
    expect(listed.file?.missingCount).toBe(2);
    expect(listed.file?.missing).toEqual([
      { line: 7, entry: 'nowhere/missing.mp3', reason: 'no track of the library has this file' },
      { line: 11, entry: 'https://example.com/a.mp3', reason: 'a URL, not a file of the library' },
    ]);
    // Subsonic shows it as a read-only playlist.
    const sub = await client.json('getPlaylist', { ...client.token(root), id: listed.id });
    expect(sub.playlist.readonly).toBe(true);
    expect(sub.playlist.entry.map((e: { id: string }) => e.id)).toEqual([t(3).id, t(0).id, t(5).id]);
  });

  it('makes a Latin-1 .m3u in a subfolder a playlist, its paths relative to its folder', async () => {
    const text = `#EXTM3U\n#PLAYLIST:Café\n../${t(1).path}\n${join(dir, t(2).path)}\n/etc/passwd\n`;
    await write(join(t(1).path, '..', '..', 'old.m3u'), Buffer.from(text, 'latin1'));
    const rel = join(t(1).path, '..', '..', 'old.m3u');
    const listed = await eventually(() => fileList(root, rel), WAIT, 200);
    expect(listed.name).toBe('Café');
    expect(await trackIdsOf(root, listed.id)).toEqual([t(1).id, t(2).id]);
    expect(listed.file?.missing).toEqual([
      { line: 5, entry: '/etc/passwd', reason: 'outside the library folder' },
    ]);
  });

  it('follows edits of the file: lines added, removed and reordered', async () => {
    const before = await eventually(() => fileList(root, 'mix.m3u8'), WAIT, 200);
    await write('mix.m3u8', m3u8([t(5).path, t(6).path, t(3).path, t(7).path]));
    await eventually(
      async () => (await trackIdsOf(root, before.id)).join() === [t(5).id, t(6).id, t(3).id, t(7).id].join(),
      WAIT,
      200,
    );
    const after = await fileList(root, 'mix.m3u8');
    expect(after?.id).toBe(before.id);
    expect(after?.file?.missingCount).toBe(0);
  });

  it('refuses changes through the app, and lets its owner only make it public', async () => {
    const p = (await fileList(root, 'mix.m3u8'))!;
    const refused = [
      await send(root, 'PATCH', `/api/playlists/${p.id}`, { name: 'other' }),
      await send(root, 'POST', `/api/playlists/${p.id}/tracks`, { trackIds: [t(0).id] }),
      await send(root, 'DELETE', `/api/playlists/${p.id}`),
    ];
    for (const answer of refused) {
      expect(answer.status).toBe(403);
      expect(JSON.stringify(answer.body)).toContain('is made from the playlist file mix.m3u8');
    }
    const message = await client.fails(
      'updatePlaylist',
      { ...client.token(root), playlistId: p.id, name: 'x' },
      50,
    );
    expect(message).toContain('playlist file');
    expect((await send(root, 'PATCH', `/api/playlists/${p.id}`, { public: true })).status).toBe(200);
    expect(await trackIdsOf(root, p.id)).toHaveLength(4);
  });

  it('is not readable nor exportable by a user who does not see the library, even public', async () => {
    const p = (await fileList(root, 'mix.m3u8'))!;
    expect(p.public).toBe(true);
    expect((await rest(bob, `/api/playlists/${p.id}`)).status).toBe(404);
    expect((await rest(bob, `/api/playlists/${p.id}/export`)).status).toBe(404);
    expect((await rest(null, `/api/playlists/${p.id}/export`)).status).toBe(404);
    expect((await rest(bob, `/api/playlists?ownerId=${root.user.id}`)).body).not.toContainEqual(
      expect.objectContaining({ id: p.id }),
    );
    // Alice sees the library: the public playlist reads and exports for her.
    expect((await rest(alice, `/api/playlists/${p.id}`)).status).toBe(200);
    expect((await rest(alice, `/api/playlists/${p.id}/export`)).status).toBe(200);
  });

  it('exports as .m3u8 that reads back as the same tracks (REST, then a file in the library)', async () => {
    const made = await send(alice, 'POST', '/api/playlists', {
      name: 'Road / trip',
      trackIds: [t(4).id, t(1).id, t(4).id, t(7).id],
    });
    expect(made.status).toBe(201);
    const exported = await rest(alice, `/api/playlists/${made.body.id}/export`);
    expect(exported.status).toBe(200);
    expect(exported.headers.get('content-type')).toMatch(/^audio\/x-mpegurl/);
    expect(exported.headers.get('content-disposition')).toBe(
      "attachment; filename*=UTF-8''Road%20_%20trip.m3u8",
    );
    const text = exported.body as string;
    expect(text.split('\n').slice(0, 3)).toEqual([
      '#EXTM3U',
      '#PLAYLIST:Road / trip',
      expect.stringMatching(/^#EXTINF:\d+,.+ - .+$/),
    ]);
    expect(text).not.toContain(dir);
    // Parsed as the import parses it, placed at the library's root: the same files in order.
    const parsed = parsePlaylistFile(text, join(dir, 'roundtrip.m3u8'), dir);
    expect(parsed.entries.map((e) => e.path)).toEqual([4, 1, 4, 7].map((i) => join(dir, t(i).path)));
    await write('roundtrip.m3u8', text);
    const back = await eventually(() => fileList(root, 'roundtrip.m3u8'), WAIT, 200);
    expect(back.name).toBe('Road / trip');
    expect(await trackIdsOf(root, back.id)).toEqual([t(4).id, t(1).id, t(4).id, t(7).id]);
  });

  it('follows tracks the file names that are imported after it', async () => {
    await write('later.m3u8', m3u8(['Later/late.mp3', t(0).path]));
    const p = await eventually(() => fileList(root, 'later.m3u8'), WAIT, 200);
    expect(p.file?.missing.map((m) => m.entry)).toEqual(['Later/late.mp3']);
    expect(await trackIdsOf(root, p.id)).toEqual([t(0).id]);
    await mkdir(join(dir, 'Later'));
    await copyFile(join(dir, t(6).path), join(dir, 'Later', 'late.mp3'));
    const ids = await eventually(
      async () => {
        const now = await trackIdsOf(root, p.id);
        return now.length === 2 ? now : undefined;
      },
      WAIT,
      200,
    );
    expect(ids[1]).toBe(t(0).id);
    expect(ids[0]).not.toBe(t(0).id);
    expect((await fileList(root, 'later.m3u8'))?.file?.missingCount).toBe(0);
  });

  it('exports through the terminal client to a file', async () => {
    const p = (await fileList(root, 'later.m3u8'))!;
    const home = await mkdtemp(join(tmpdir(), 'playlist-files-client-'));
    try {
      const run = (args: string[]) =>
        new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
          const child = spawn(process.execPath, ['--import', 'tsx', 'client/main.ts', ...args], {
            env: { ...process.env, GATEWAY_URL: client.origin(), MUSIC_CLIENT_HOME: home, NO_COLOR: '1' },
            stdio: ['ignore', 'pipe', 'pipe'],
          });
          let stdout = '';
          let stderr = '';
          child.stdout.on('data', (d: Buffer) => {
            stdout += d.toString();
          });
          child.stderr.on('data', (d: Buffer) => {
            stderr += d.toString();
          });
          child.once('close', (code) => resolve({ code, stdout, stderr }));
        });
      const login = await run(['login', root.user.username, root.password]);
      expect(login.code, login.stderr).toBe(0);
      const out = join(home, 'later.m3u8');
      const exported = await run(['playlist', 'export', p.id, out]);
      expect(exported.code, exported.stderr).toBe(0);
      expect(exported.stdout.trim()).toBe(`wrote ${out}`);
      const text = await readFile(out, 'utf8');
      expect(text).toBe((await rest(root, `/api/playlists/${p.id}/export`)).body);
      expect(
        text
          .trimEnd()
          .split('\n')
          .filter((l) => !l.startsWith('#')),
      ).toEqual(['Later/late.mp3', t(0).path]);
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  }, 60_000);

  it('refuses an oversized version with a reported error, keeping the tracks it had', async () => {
    const p = (await fileList(root, 'mix.m3u8'))!;
    const big = `#EXTM3U\n${`#${'x'.repeat(1000)}\n`.repeat(Math.ceil(PLAYLIST_FILE_MAX_BYTES / 1000))}${t(0).path}\n`;
    expect(big.length).toBeGreaterThan(PLAYLIST_FILE_MAX_BYTES);
    await write('mix.m3u8', big);
    const refused = await eventually(
      async () => {
        const listed = await fileList(root, 'mix.m3u8');
        return listed?.file?.error ? listed : undefined;
      },
      WAIT,
      200,
    );
    expect(refused.file?.error).toBe('playlist file refused: it is larger than 1 MiB');
    expect(await trackIdsOf(root, p.id)).toEqual([t(5).id, t(6).id, t(3).id, t(7).id]);
    // A version within bounds again is taken, and the error goes.
    await write('mix.m3u8', m3u8([t(2).path]));
    await eventually(async () => (await trackIdsOf(root, p.id)).join() === t(2).id, WAIT, 200);
    expect((await fileList(root, 'mix.m3u8'))?.file?.error).toBeUndefined();
  });

  it('takes a file of 10,000 entries, the most a playlist holds', async () => {
    const entries = Array.from({ length: PLAYLIST_FILE_MAX_ENTRIES }, (_, i) => t(i % FILES).path);
    await write('long.m3u8', m3u8(entries));
    const p = await eventually(
      async () => {
        const listed = await fileList(root, 'long.m3u8');
        return listed?.trackCount === PLAYLIST_FILE_MAX_ENTRIES ? listed : undefined;
      },
      WAIT,
      200,
    );
    const last = await rest(root, `/api/playlists/${p.id}?offset=${PLAYLIST_FILE_MAX_ENTRIES - 3}&limit=3`);
    expect(last.body.tracks.map((e: { track: { id: string } }) => e.track.id)).toEqual(
      [5, 6, 7].map((i) => t((PLAYLIST_FILE_MAX_ENTRIES - 8 + i) % FILES).id),
    );
    const exported = await rest(root, `/api/playlists/${p.id}/export`);
    expect((exported.body as string).split('\n').filter((l) => l && !l.startsWith('#'))).toHaveLength(
      PLAYLIST_FILE_MAX_ENTRIES,
    );
    await unlink(join(dir, 'long.m3u8'));
    await eventually(async () => (await fileList(root, 'long.m3u8')) === undefined, WAIT, 200);
  });

  it('moves the playlists to the library owner an administrator names', async () => {
    expect(
      (await send(root, 'PATCH', `/api/libraries/${library.id}`, { ownerId: alice.user.id })).status,
    ).toBe(200);
    const moved = await eventually(() => fileList(alice, 'mix.m3u8'), WAIT, 200);
    expect(moved.ownerId).toBe(alice.user.id);
    expect(moved.ownerName).toBe(alice.user.username);
    expect(await fileList(root, 'mix.m3u8')).toBeUndefined();
  });

  it('removes the playlist when the file is deleted', async () => {
    const p = (await fileList(alice, 'roundtrip.m3u8'))!;
    await unlink(join(dir, 'roundtrip.m3u8'));
    await eventually(async () => (await rest(alice, `/api/playlists/${p.id}`)).status === 404, WAIT, 200);
    expect(await fileList(alice, 'roundtrip.m3u8')).toBeUndefined();
    expect(await fileList(alice, 'mix.m3u8')).toBeDefined();
  });

  it('removes the playlists of a library that is removed (its files stay)', async () => {
    const p = (await fileList(alice, 'mix.m3u8'))!;
    expect((await send(root, 'DELETE', `/api/libraries/${library.id}`)).status).toBe(200);
    await eventually(async () => (await rest(alice, `/api/playlists/${p.id}`)).status === 404, WAIT, 200);
    expect((await playlistsOf(alice)).filter((x) => x.file)).toEqual([]);
    expect((await playlistsOf(root)).filter((x) => x.file)).toEqual([]);
  });
});

describe('playlist files: reading an .m3u', () => {
  const root = '/srv/music';
  const file = '/srv/music/Lists/mine.m3u';
  const read = (text: string, path = file) => parsePlaylistFile(text, path, root);

  it('resolves relative, absolute and file:// entries, refusing URLs and paths outside the library', () => {
    const parsed = read(
      [
        '#EXTM3U',
        '#EXTINF:123,Artist - Title',
        '../A/B/01 x.mp3',
        '',
        '   C/02 y.flac   ',
        '/srv/music/D/03 z.ogg',
        'file:///srv/music/E/04%20w.mp3',
        'http://radio.example/stream',
        '../../etc/passwd',
        '/srv/musicians/x.mp3',
        'C:\\Music\\a.mp3',
        '..\\F\\05 v.mp3',
      ].join('\r\n'),
    );
    expect(parsed.name).toBe('mine');
    expect(parsed.entries.map((e) => [e.line, e.path, e.problem])).toEqual([
      [3, '/srv/music/A/B/01 x.mp3', undefined],
      [5, '/srv/music/Lists/C/02 y.flac', undefined],
      [6, '/srv/music/D/03 z.ogg', undefined],
      [7, '/srv/music/E/04 w.mp3', undefined],
      [8, null, 'a URL, not a file of the library'],
      [9, null, 'outside the library folder'],
      [10, null, 'outside the library folder'],
      [11, null, 'a Windows path, outside the library folder'],
      [12, '/srv/music/F/05 v.mp3', undefined],
    ]);
  });

  it('takes #PLAYLIST as the name, and refuses a file of more than 10,000 entries whole', () => {
    expect(read('#EXTM3U\n#PLAYLIST:  Road trip \na.mp3\n').name).toBe('Road trip');
    expect(read(`${'a.mp3\n'.repeat(10_000)}`).entries).toHaveLength(10_000);
    expect(() => read(`${'a.mp3\n'.repeat(10_001)}`)).toThrow(/more than 10000 entries/);
  });

  it('reads .m3u8 as UTF-8 and .m3u as UTF-8 or else Latin-1, without a byte order mark', () => {
    const utf8 = Buffer.from('\uFEFF#PLAYLIST:Café\nÉté.mp3\n', 'utf8');
    expect(decodePlaylistFile(utf8, 'x.m3u8')).toBe('#PLAYLIST:Café\nÉté.mp3\n');
    expect(decodePlaylistFile(utf8, 'x.m3u')).toBe('#PLAYLIST:Café\nÉté.mp3\n');
    expect(decodePlaylistFile(Buffer.from('Été.mp3\n', 'latin1'), 'x.M3U')).toBe('Été.mp3\n');
  });
});
