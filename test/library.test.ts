/**
 * Importing a library folder, as a user keeps one: a generated library of tagged files (every
 * format the importer reads), imported, rescanned, changed, moved and thinned out, with the
 * playlists and history services beside the catalog to see what their pages show; then the
 * catalog workers watching a folder.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeLibrary, generateLibrary, type LibraryFile } from '../bench/library.js';
import {
  type CatalogContract,
  catalogContract,
  historyContract,
  playlistsContract,
  type Track,
} from '../common/contracts/index.js';
import type { Pool } from '../common/db/pool.js';
import { NotFoundError } from '../common/errors.js';
import type { ServiceClient } from '../common/rpc/client.js';
import type { RunningService } from '../common/service.js';
import { catalogService, importFolder, LibraryWatcher, ProgressBar } from '../services/catalog/index.js';
import { TreeWatcher } from '../services/catalog/library/tree-watch.js';
import { historyService } from '../services/history/service.js';
import { playlistsService } from '../services/playlists/service.js';
import { eventually, testConfig } from './support/env.js';
import { createDatabase, databaseUrl, dropDatabase } from './support/local-infra.js';
import { EventWorld, playEnvelope } from './support/plays.js';

const alice = { userId: 'u-alice', username: 'alice', admin: false };
const as = { caller: alice };
/** 60 files: six albums of ten, two artists (four albums and two), five formats. */
const FILES = 60;

/** Every track the catalog has, through its public reads. */
async function everyTrack(catalog: ServiceClient<CatalogContract>): Promise<Track[]> {
  const tracks: Track[] = [];
  for (let offset = 0; ; offset += 100) {
    const page = await catalog.call('listTracks', { limit: 100, offset });
    tracks.push(...page.items);
    if (tracks.length >= page.total) return tracks;
  }
}

const pathOf = (folder: string, f: LibraryFile) => join(folder, f.path);

describe('importing a library folder', () => {
  let world: EventWorld;
  let pool: Pool;
  let folder: string;
  let spare: string;
  let files: LibraryFile[];
  let catalog: ServiceClient<CatalogContract>;
  const idOf = new Map<string, string>();

  beforeAll(async () => {
    world = await EventWorld.open('lib');
    await world.start(catalogService);
    await world.start(playlistsService);
    // History asks the catalog on every page here: with names kept (TRACK_NAMES_TTL_MS), a
    // removed track shows as unavailable only once they expire (test/history.test.ts).
    await world.start(historyService, testConfig({ trackNamesTtlMs: 0 }));
    pool = world.pool(catalogService);
    catalog = world.rpc.bind(catalogContract);
    folder = await mkdtemp(join(tmpdir(), 'library-'));
    spare = await mkdtemp(join(tmpdir(), 'library-spare-'));
    files = await generateLibrary({ dir: folder, files: FILES });
    // The same files again, to put back what a test removes.
    await generateLibrary({ dir: spare, files: FILES });
  }, 120_000);

  afterAll(async () => {
    await world?.close();
    for (const dir of [folder, spare]) if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('imports every file with its tags, albums and artists counted as the files say', async () => {
    const summary = await importFolder(pool, folder);
    expect(summary).toMatchObject({ found: FILES, read: FILES, skipped: [], ignored: 0 });
    expect(summary.tracks).toEqual({ inserted: FILES, updated: 0, unchanged: 0 });
    const albums = new Set(files.map((f) => `${f.tags.artist}\n${f.tags.album}`));
    const artists = new Set(files.map((f) => f.tags.artist));
    expect(summary.albums.inserted).toBe(albums.size);
    expect(summary.artists.inserted).toBe(artists.size);
    expect(new Set(files.map((f) => f.format)).size).toBe(5);

    const tracks = await everyTrack(catalog);
    expect(tracks).toHaveLength(FILES);
    for (const f of files) {
      const t = tracks.find((x) => x.title === f.tags.title && x.albumTitle === f.tags.album);
      expect(t, f.path).toMatchObject({
        artistName: f.tags.artist,
        number: f.tags.track,
        year: f.tags.year,
        genre: f.tags.genre.toLowerCase(),
      });
      // Encoders pad a little (an MP3 frame, AAC priming): the duration is the clip's, near enough.
      expect(Math.abs(t!.durationMs - f.seconds * 1000), f.path).toBeLessThan(120);
      idOf.set(f.path, t!.id);
      const file = await catalog.call('getTrackFile', { id: t!.id });
      expect(file.path).toBe(pathOf(folder, f));
    }
    const { items } = await catalog.call('listArtists', { limit: 100 });
    expect(items.map((a) => [a.name, a.albumCount]).sort()).toEqual(
      [...artists]
        .map((a) => [a, new Set(files.filter((f) => f.tags.artist === a).map((f) => f.tags.album)).size])
        .sort(),
    );
  });

  it('reads no file again when nothing changed', async () => {
    const snapshot = async () =>
      (await pool.query('SELECT id, file_path, title, album_id, file_mtime_ms FROM tracks ORDER BY id')).rows;
    const before = await snapshot();
    const again = await importFolder(pool, folder);
    expect(again).toMatchObject({ found: FILES, read: 0, removed: { tracks: 0, albums: 0, artists: 0 } });
    expect(again.tracks).toEqual({ inserted: 0, updated: 0, unchanged: FILES });
    expect(await snapshot()).toEqual(before);
  });

  it('updates a file changed in place, keeping its id, its playlist entries and its plays', async () => {
    const [first, second, sixth] = [files[0]!, files[1]!, files[5]!];
    const id = idOf.get(first.path)!;
    const playlists = world.rpc.bind(playlistsContract);
    const list = await playlists.call('create', { name: 'Mix', trackIds: [id, idOf.get(second.path)!] }, as);
    await world.publish([playEnvelope(alice.userId, id, new Date(Date.now() - 60_000))]);

    // The first file now holds the sixth's audio and tags (same album, another title).
    await copyFile(pathOf(folder, sixth), pathOf(folder, first));
    const summary = await importFolder(pool, folder);
    expect(summary.read).toBe(1);
    expect(summary.tracks).toEqual({ inserted: 0, updated: 1, unchanged: FILES - 1 });
    expect(await catalog.call('getTrack', { id })).toMatchObject({ title: sixth.tags.title, number: 6 });

    const shown = await playlists.call('get', { id: list.id }, as);
    expect(shown.tracks.map((e) => [e.position, e.track.id, e.track.title])).toEqual([
      [0, id, sixth.tags.title],
      [1, idOf.get(second.path), second.tags.title],
    ]);
    const history = world.rpc.bind(historyContract);
    await eventually(async () => (await history.call('recent', {}, as)).length === 1);
    expect((await history.call('recent', {}, as))[0]).toMatchObject({ trackId: id, title: sixth.tags.title });
    expect((await history.call('recent', {}, as))[0]!.unavailable).toBeUndefined();
  });

  it('removes tracks whose files are gone, and the albums and artists left empty; playlists and history show them unavailable', async () => {
    const playlists = world.rpc.bind(playlistsContract);
    const history = world.rpc.bind(historyContract);
    const artists = [...new Set(files.map((f) => f.tags.artist))];
    const lastArtist = artists[artists.length - 1]!;
    const goneFiles = files.filter((f) => f.tags.artist === lastArtist);
    const gone = goneFiles[3]!;
    const lone = files[12]!; // one file of the first artist's second album
    const goneId = idOf.get(gone.path)!;
    const kept = idOf.get(files[20]!.path)!;
    const list = await playlists.call('create', { name: 'Going', trackIds: [kept, goneId, kept] }, as);
    await world.publish([playEnvelope(alice.userId, goneId, new Date())]);
    await eventually(async () => (await history.call('recent', {}, as))[0]?.trackId === goneId);

    await rm(join(folder, dirname(dirname(gone.path))), { recursive: true });
    await rm(pathOf(folder, lone));
    const summary = await importFolder(pool, folder);
    const goneAlbums = new Set(goneFiles.map((f) => f.tags.album)).size;
    expect(summary.read).toBe(0);
    expect(summary.removed).toEqual({ tracks: goneFiles.length + 1, albums: goneAlbums, artists: 1 });

    // The catalog no longer has them ...
    const tracks = await everyTrack(catalog);
    expect(tracks).toHaveLength(FILES - goneFiles.length - 1);
    await expect(catalog.call('getTrack', { id: goneId })).rejects.toBeInstanceOf(NotFoundError);
    expect(await catalog.call('getTracks', { ids: [goneId, kept] })).toEqual([
      expect.objectContaining({ id: kept }),
    ]);
    const { items } = await catalog.call('listArtists', { limit: 100 });
    expect(items.map((a) => a.name)).not.toContain(lastArtist);
    const album = tracks.find((t) => t.albumTitle === lone.tags.album && t.artistName === lone.tags.artist)!;
    const counted = await catalog.call('getAlbum', { id: album.albumId });
    expect([counted.trackCount, counted.tracks.length]).toEqual([9, 9]);

    // ... but the pages that name them still show what they were, marked unavailable.
    const [removed] = await catalog.call('getTracks', { ids: [goneId], withRemoved: true });
    expect(removed).toMatchObject({
      id: goneId,
      title: gone.tags.title,
      artistName: lastArtist,
      unavailable: true,
    });
    const shown = await playlists.call('get', { id: list.id }, as);
    expect(shown.trackCount).toBe(3);
    expect(shown.tracks.map((e) => [e.position, e.track.id, e.track.unavailable ?? false])).toEqual([
      [0, kept, false],
      [1, goneId, true],
      [2, kept, false],
    ]);
    expect(shown.tracks[1]!.track.title).toBe(gone.tags.title);
    // The entry can still be moved and removed by its position; the track cannot be added again.
    await playlists.call('moveTrack', { id: list.id, from: 1, to: 0 }, as);
    await expect(playlists.call('addTracks', { id: list.id, trackIds: [goneId] }, as)).rejects.toBeInstanceOf(
      NotFoundError,
    );
    const recent = await history.call('recent', {}, as);
    expect(recent[0]).toMatchObject({ trackId: goneId, title: gone.tags.title, unavailable: true });
  });

  it('gives a file that comes back, moved or restored, the id it had', async () => {
    const playlists = world.rpc.bind(playlistsContract);
    const artists = [...new Set(files.map((f) => f.tags.artist))];
    const back = files.filter((f) => f.tags.artist === artists[artists.length - 1])[3]!;
    const id = idOf.get(back.path)!;
    // Restored under another name in another folder.
    const elsewhere = join(folder, 'Restored', `from backup.${back.format}`);
    await mkdir(dirname(elsewhere), { recursive: true });
    await copyFile(pathOf(spare, back), elsewhere);
    const summary = await importFolder(pool, folder);
    expect(summary).toMatchObject({ read: 1, revived: 1 });
    expect(summary.tracks.inserted).toBe(1);
    expect(await catalog.call('getTrack', { id })).toMatchObject({ title: back.tags.title });
    const lists = await playlists.call('list', {}, as);
    const going = await playlists.call('get', { id: lists.find((p) => p.name === 'Going')!.id }, as);
    expect(going.tracks.every((e) => !e.track.unavailable)).toBe(true);

    // A rename within the library, seen in one run: the same track at its new path.
    const moved = files[30]!;
    const movedId = idOf.get(moved.path)!;
    const to = join(folder, dirname(moved.path), `renamed.${moved.format}`);
    await rename(pathOf(folder, moved), to);
    const again = await importFolder(pool, folder);
    expect(again).toMatchObject({ read: 1, revived: 1, removed: { tracks: 1, albums: 0, artists: 0 } });
    expect((await catalog.call('getTrackFile', { id: movedId })).path).toBe(to);
  });

  it('passes over an unreadable file until it changes', async () => {
    const bad = join(folder, 'Broken', 'not audio.mp3');
    await mkdir(dirname(bad), { recursive: true });
    await writeFile(bad, 'not audio at all');
    const first = await importFolder(pool, folder);
    expect(first.skipped).toEqual([
      { path: bad, reason: expect.stringMatching(/no playable audio|not a readable/) },
    ]);
    const second = await importFolder(pool, folder);
    expect(second).toMatchObject({ read: 0, skipped: [], stillUnreadable: 1 });
    await copyFile(pathOf(spare, files[0]!), bad);
    const fixed = await importFolder(pool, folder);
    expect(fixed).toMatchObject({ read: 1, skipped: [], stillUnreadable: 0 });
    expect(fixed.tracks.inserted).toBe(1);
  });
  it('stops reading when told to, and the next run reads what it left', async () => {
    const extra = join(folder, 'Late Arrivals');
    await mkdir(extra, { recursive: true });
    for (const f of files.slice(50, 52))
      await copyFile(pathOf(spare, f), join(extra, `${f.tags.track}.${f.format}`));
    const stop = new AbortController();
    stop.abort();
    const cut = await importFolder(pool, folder, { signal: stop.signal });
    expect(cut).toMatchObject({ read: 0, tracks: { inserted: 0, updated: 0 } });
    const rest = await importFolder(pool, folder);
    expect(rest).toMatchObject({ read: 2, tracks: { inserted: 2, updated: 0 } });
  });
});

describe('catalog workers watching a library folder', () => {
  let world: EventWorld;
  let folder: string;
  let spare: string;
  let files: LibraryFile[];
  const workers: RunningService[] = [];
  const watcherOf = (w: RunningService) =>
    w.workers.find((x): x is LibraryWatcher => x instanceof LibraryWatcher)!;

  beforeAll(async () => {
    world = await EventWorld.open('libwatch');
    folder = await mkdtemp(join(tmpdir(), 'library-watch-'));
    spare = await mkdtemp(join(tmpdir(), 'library-watch-spare-'));
    files = await generateLibrary({ dir: folder, files: 20, formats: ['mp3', 'opus'] });
    await generateLibrary({ dir: spare, files: 20, formats: ['mp3', 'opus'] });
    const config = testConfig({ libraryDir: folder });
    workers.push(await world.start(catalogService, config), await world.start(catalogService, config));
  }, 120_000);

  afterAll(async () => {
    await world?.close();
    for (const dir of [folder, spare]) if (dir) await rm(dir, { recursive: true, force: true });
  });

  const trackCount = async () =>
    (await world.rpc.bind(catalogContract).call('listTracks', { limit: 1 })).total;

  it('one worker imports the folder; the other stands by', async () => {
    const watchers = workers.map(watcherOf);
    await eventually(async () => (await trackCount()) === files.length, 30_000);
    // The tracks are visible once their batch commits; the run's counters once the run ends.
    await eventually(() => watchers.reduce((n, w) => n + w.counters.filesRead, 0) >= files.length, 30_000);
    expect(watchers.filter((w) => w.leading)).toHaveLength(1);
    expect(watchers.reduce((n, w) => n + w.counters.filesRead, 0)).toBe(files.length);
  });

  it('picks up an added file within 10 s, reading only it, and a removed one', async () => {
    const watchers = workers.map(watcherOf);
    const readBefore = watchers.reduce((n, w) => n + w.counters.filesRead, 0);
    const added = join(folder, 'New Artist', 'New Album', '01 Arrival.mp3');
    await mkdir(dirname(added), { recursive: true });
    const started = Date.now();
    await copyFile(join(spare, files[0]!.path), `${added}.part`);
    await rename(`${added}.part`, added);
    await eventually(async () => (await trackCount()) === files.length + 1, 10_000);
    expect(Date.now() - started).toBeLessThan(10_000);
    // The counters move once the import returns, a moment after its commit.
    const read = () => watchers.reduce((n, w) => n + w.counters.filesRead, 0);
    await eventually(() => read() > readBefore, 2000);
    expect(read()).toBe(readBefore + 1);

    await rm(join(folder, files[3]!.path));
    await eventually(async () => (await trackCount()) === files.length, 10_000);
    await eventually(() => watchers.reduce((n, w) => n + w.counters.removed, 0) > 0, 2000);
    expect(watchers.reduce((n, w) => n + w.counters.removed, 0)).toBe(1);
    expect(read()).toBe(readBefore + 1);
  });

  it('hands the watch to the other worker when the leader stops, which reads nothing again', async () => {
    const leader = workers.find((w) => watcherOf(w).leading)!;
    const other = workers.find((w) => w !== leader)!;
    await leader.stop();
    workers.splice(workers.indexOf(leader), 1);
    world.workers.splice(world.workers.indexOf(leader), 1);
    await eventually(() => watcherOf(other).leading && watcherOf(other).counters.imports > 0, 10_000);
    const readBefore = watcherOf(other).counters.filesRead;
    const added = join(folder, 'New Artist', 'New Album', '02 Second.opus');
    const opus = files.find((f) => f.format === 'opus')!;
    await copyFile(join(spare, opus.path), added);
    await eventually(async () => (await trackCount()) === files.length + 1, 10_000);
    await eventually(() => watcherOf(other).counters.filesRead > readBefore, 2000);
    expect(watcherOf(other).counters.filesRead).toBe(readBefore + 1);
  });
});

describe('npm run import', () => {
  const database = `import_cli_${randomBytes(3).toString('hex')}`;
  let folder: string;
  let child: ChildProcess | null = null;
  const env = () => ({ ...process.env, DATABASE_URL: databaseUrl(database), LOG_LEVEL: 'warn' });
  const cli = (...args: string[]) =>
    spawn(process.execPath, ['--import', 'tsx', 'scripts/import.ts', ...args], { env: env() });
  const output = (p: ChildProcess) => {
    const out = { text: '', code: null as number | null };
    p.stdout?.on('data', (d: Buffer) => {
      out.text += d.toString();
    });
    p.stderr?.on('data', (d: Buffer) => {
      out.text += d.toString();
    });
    const exited = new Promise<void>((resolve) =>
      p.once('exit', (code) => {
        out.code = code;
        resolve();
      }),
    );
    return { out, exited };
  };

  beforeAll(async () => {
    await createDatabase(database);
    folder = await mkdtemp(join(tmpdir(), 'library-cli-'));
    await generateLibrary({ dir: folder, files: 12, formats: ['flac', 'm4a'] });
  }, 120_000);

  afterAll(async () => {
    child?.kill('SIGKILL');
    await dropDatabase(database);
    if (folder) await rm(folder, { recursive: true, force: true });
  });

  it('imports a folder and says what it did; a second run reads nothing', async () => {
    const first = output(cli(folder));
    await first.exited;
    expect(first.out.code, first.out.text).toBe(0);
    expect(first.out.text).toMatch(/^12 audio files in [\d.]+ s: 0 unchanged \(not read\), 12 read/m);
    expect(first.out.text).toMatch(/^tracks: 12 new, 0 updated, 0 removed$/m);
    expect(first.out.text).toMatch(/^albums: 2 new, 0 removed; artists: 1 new, 0 removed$/m);
    const second = output(cli(folder));
    await second.exited;
    expect(second.out.text).toMatch(/^12 audio files in [\d.]+ s: 12 unchanged \(not read\), 0 read/m);
  }, 60_000);

  it('refuses a bad command line', async () => {
    const run = output(cli());
    await run.exited;
    expect(run.out.code).toBe(2);
    expect(run.out.text).toMatch(/usage: npm run import -- <folder> \[--watch\]/);
  });

  it('keeps watching with --watch until interrupted', async () => {
    child = cli(folder, '--watch');
    const watching = output(child);
    await eventually(
      () => /^12 audio files/m.test(watching.out.text) && watching.out.text.includes('watching'),
      30_000,
    );
    await rm(join(folder, describeLibrary(12, ['flac', 'm4a'])[0]!.path));
    await eventually(() => /^tracks: 0 new, 0 updated, 1 removed$/m.test(watching.out.text), 10_000);
    child.kill('SIGINT');
    await watching.exited;
    expect(watching.out.code, watching.out.text).toBe(0);
    child = null;
  }, 60_000);
});

describe('the progress bar', () => {
  const terminal = () => {
    const written: string[] = [];
    const stream = { isTTY: true, columns: 100, write: (s: string) => written.push(s) > 0 };
    return { written, stream: stream as unknown as NodeJS.WriteStream };
  };

  it('redraws one line on a terminal, and ends it', () => {
    const { written, stream } = terminal();
    const bar = new ProgressBar(stream, 'reading tags');
    bar.update(1, 4);
    bar.update(4, 4);
    bar.end();
    expect(written[0]).toMatch(/^\rreading tags \[#+\.+\] 1\/4 /);
    expect(written[1]).toMatch(/^\rreading tags \[#+\] 4\/4 /);
    expect(written[2]).toBe('\n');
  });

  it('writes nothing when the output is not a terminal', () => {
    const { written, stream } = terminal();
    (stream as { isTTY: boolean }).isTTY = false;
    const bar = new ProgressBar(stream, 'reading tags');
    bar.update(1, 4);
    bar.end();
    expect(written).toEqual([]);
  });
});

describe('the tree watcher', () => {
  let dir: string;
  let tree: TreeWatcher | null = null;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tree-watch-'));
    await mkdir(join(dir, 'a', 'b'), { recursive: true });
  });

  afterAll(async () => {
    tree?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('reports changes in every folder, new ones included, and drops folders that go', async () => {
    const seen = new Set<string>();
    const lost: string[] = [];
    tree = new TreeWatcher(dir, { onChange: (p) => seen.add(p), onLost: (r) => lost.push(r) });
    await tree.start();
    expect(tree.folders).toBe(3);
    await writeFile(join(dir, 'a', 'b', 'one.mp3'), 'x');
    await eventually(() => seen.has(join(dir, 'a', 'b', 'one.mp3')), 5000);
    // A folder made after the start is watched too, and so is one made inside it.
    await mkdir(join(dir, 'new'));
    await eventually(() => tree!.folders === 4, 5000);
    await mkdir(join(dir, 'new', 'deeper'));
    await eventually(() => tree!.folders === 5, 5000);
    await writeFile(join(dir, 'new', 'deeper', 'two.flac'), 'x');
    await eventually(() => seen.has(join(dir, 'new', 'deeper', 'two.flac')), 5000);
    await rm(join(dir, 'new'), { recursive: true });
    await eventually(() => tree!.folders === 3, 5000);
    expect(seen.has(join(dir, 'new'))).toBe(true);
    expect(lost).toEqual([]);
  });
});
