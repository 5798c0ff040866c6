/**
 * Lyrics, from the files a person keeps to what players show: embedded in tags (ID3 USLT and
 * SYLT, Vorbis LYRICS and UNSYNCEDLYRICS, MP4 ©lyr) and in `.lrc` / `.txt` files beside the
 * audio, imported, then read over REST, OpenSubsonic's `getLyricsBySongId` (through the
 * published subsonic-api client) and Subsonic's `getLyrics`; changed and removed sidecars.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cover, id3v23, lrcText } from '../bench/tags.js';
import { catalogContract, type Lyrics, type Track } from '../common/contracts/catalog.js';
import { usersContract } from '../common/contracts/users.js';
import type { ServiceClient } from '../common/rpc/client.js';
import { importFolder } from '../services/catalog/index.js';
import { embeddedLyrics, parseLyrics } from '../services/catalog/lyrics.js';
import { type Account, subsonicClient } from './support/subsonic-client.js';
import { type SubsonicHarness, startSubsonic } from './support/subsonic-harness.js';
import { findAll } from './support/xml.js';

const run = promisify(execFile);
const ffmpeg = (args: string[]) => run('ffmpeg', ['-nostdin', '-loglevel', 'error', '-y', ...args]);

describe('reading lyrics (no system)', () => {
  it('parses LRC: several times on a line, ID tags, offset, fractions of any length, sorted', () => {
    const found = parseLyrics(
      '\uFEFF[ar:Someone]\n[ti:Song]\n[offset:+250]\n[00:12.5]second\n[00:01.00][01:02.345]first and again\n[00:30]\n',
    );
    expect(found).toEqual({
      synced: true,
      offsetMs: 250,
      lang: 'und',
      lines: [
        { startMs: 1000, text: 'first and again' },
        { startMs: 12_500, text: 'second' },
        { startMs: 30_000, text: '' },
        { startMs: 62_345, text: 'first and again' },
      ],
    });
  });

  it('takes text without times as plain lyrics, trims blank ends, drops control characters', () => {
    expect(parseLyrics('\n\nOne\x1b[31m line\r\n\r\nTwo\n\n')).toEqual({
      synced: false,
      offsetMs: 0,
      lang: 'und',
      lines: [{ text: 'One[31m line' }, { text: '' }, { text: 'Two' }],
    });
    expect(parseLyrics('  \n \n')).toBeNull();
  });

  it('bounds what it keeps: lines and their length', () => {
    const long = Array.from(
      { length: 5000 },
      (_, i) => `[00:${String(i % 60).padStart(2, '0')}]${'x'.repeat(900)}`,
    );
    const found = parseLyrics(long.join('\n'))!;
    expect(found.lines).toHaveLength(2000);
    expect(found.lines.every((l) => l.text.length === 500)).toBe(true);
  });

  it('prefers synced lyrics among a file’s tags (SYLT, or LRC text in a lyrics tag)', () => {
    const plain = { contentType: 1, timeStampFormat: 0, text: 'plain', syncText: [] };
    const lrc = { contentType: 1, timeStampFormat: 0, text: '[00:02.00]two', syncText: [] };
    const sylt = {
      contentType: 1,
      timeStampFormat: 2,
      language: 'deu',
      syncText: [{ text: 'eins', timestamp: 900 }],
    };
    expect(embeddedLyrics({ lyrics: [plain, lrc] })?.lines).toEqual([{ startMs: 2000, text: 'two' }]);
    expect(embeddedLyrics({ lyrics: [plain, sylt] })).toMatchObject({ lang: 'deu', synced: true });
    expect(embeddedLyrics({ lyrics: [plain] })).toMatchObject({ synced: false, lines: [{ text: 'plain' }] });
    expect(embeddedLyrics({})).toBeNull();
  });
});

describe('lyrics of an imported library, through REST and Subsonic', () => {
  let h: SubsonicHarness;
  let folder: string;
  let catalog: ServiceClient<typeof catalogContract>;
  let alice: Account;
  const byTitle = new Map<string, Track>();
  const client = subsonicClient(
    () => h.url,
    () => h.rpc.bind(usersContract),
  );
  const rest = async (path: string) => {
    const res = await fetch(`${client.origin()}${path}`);
    return { status: res.status, body: (await res.json()) as Lyrics & { error?: { message: string } } };
  };
  const path = (name: string) => join(folder, 'Lyric Artist', 'Words', name);
  const importNow = () => importFolder(h.services.get('catalog')!.deps.pool, folder);
  const lyricsOf = (title: string) => rest(`/api/tracks/${byTitle.get(title)!.id}/lyrics`);

  beforeAll(async () => {
    h = await startSubsonic();
    catalog = h.rpc.bind(catalogContract);
    alice = await client.account('alice');
    folder = await mkdtemp(join(tmpdir(), 'lyrics-'));
    await mkdir(path(''), { recursive: true });
    const raw = join(folder, 'raw.mp3');
    const tags = (title: string, track: number) => [
      '-metadata',
      `title=${title}`,
      '-metadata',
      'artist=Lyric Artist',
      '-metadata',
      'album=Words',
      '-metadata',
      `track=${track}`,
    ];
    const tone = ['-f', 'lavfi', '-i', 'sine=frequency=440:duration=2'];
    await ffmpeg([...tone, '-c:a', 'libmp3lame', '-id3v2_version', '0', raw]);
    const cover: Cover = { mime: 'image/png', data: Buffer.from([0x89, 0x50]), width: 1, height: 1 };
    const mp3 = async (
      name: string,
      title: string,
      track: number,
      lyrics?: Parameters<typeof id3v23>[0]['lyrics'],
    ) => {
      const tag = id3v23(
        {
          artist: 'Lyric Artist',
          album: 'Words',
          title,
          track,
          trackTotal: 9,
          genre: 'Pop',
          year: 2001,
          ...(lyrics ? { lyrics } : {}),
        },
        cover,
      );
      await writeFile(path(name), Buffer.concat([tag, await readFile(raw)]));
    };
    await mp3('01 Unsynced.mp3', 'Unsynced', 1, { text: 'Héllo there\nsecond line' });
    await mp3('02 Synced.mp3', 'Synced', 2, {
      synced: [
        { ms: 500, text: 'ünë' },
        { ms: 1500, text: 'two' },
      ],
      lang: 'deu',
    });
    await ffmpeg([
      ...tone,
      ...tags('Flac Lrc', 3),
      '-metadata',
      `LYRICS=${lrcText([
        { ms: 1000, text: 'one' },
        { ms: 1750, text: 'two' },
      ])}`,
      path('03 Flac Lrc.flac'),
    ]);
    await ffmpeg([
      ...tone,
      '-c:a',
      'libvorbis',
      ...tags('Ogg Plain', 4),
      '-metadata',
      'UNSYNCEDLYRICS=plain ogg words',
      path('04 Ogg Plain.ogg'),
    ]);
    await ffmpeg([
      ...tone,
      '-c:a',
      'aac',
      ...tags('Mp4 Words', 5),
      '-metadata',
      'lyrics=mp4 words',
      path('05 Mp4 Words.m4a'),
    ]);
    await mp3('06 Beside.mp3', 'Beside', 6, { text: 'embedded, under the sidecar' });
    await writeFile(path('06 Beside.lrc'), '[offset:-120]\n[00:00.50]from the lrc\n[00:01.25]file\n');
    await mp3('07 Text Beside.mp3', 'Text Beside', 7);
    await writeFile(path('07 Text Beside.txt'), 'text file\nlyrics\n');
    await mp3('08 Silent.mp3', 'Silent', 8);
    // A text file beside no audio of its name is not lyrics: it is counted as ignored.
    await writeFile(path('notes.txt'), 'liner notes');
    await rm(raw);

    const summary = await importNow();
    expect(summary).toMatchObject({ found: 8, read: 8, skipped: [], ignored: 1 });
    const album = await catalog.call('search', { q: 'Words', limit: 5 });
    const { tracks } = await catalog.call('getAlbum', { id: album.albums[0]!.id });
    for (const t of tracks) byTitle.set(t.title, t);
    expect(byTitle.size).toBe(8);
  }, 120_000);

  afterAll(async () => {
    await h?.close();
    if (folder) await rm(folder, { recursive: true, force: true });
  });

  it('reads every kind of embedded lyrics at import', async () => {
    expect((await lyricsOf('Unsynced')).body).toMatchObject({
      synced: false,
      lang: 'eng',
      lines: [{ text: 'Héllo there' }, { text: 'second line' }],
    });
    expect((await lyricsOf('Synced')).body).toMatchObject({
      synced: true,
      lang: 'deu',
      offsetMs: 0,
      lines: [
        { startMs: 500, text: 'ünë' },
        { startMs: 1500, text: 'two' },
      ],
    });
    expect((await lyricsOf('Flac Lrc')).body.lines).toEqual([
      { startMs: 1000, text: 'one' },
      { startMs: 1750, text: 'two' },
    ]);
    expect((await lyricsOf('Ogg Plain')).body.lines).toEqual([{ text: 'plain ogg words' }]);
    expect((await lyricsOf('Mp4 Words')).body.lines).toEqual([{ text: 'mp4 words' }]);
  });

  it('prefers a .lrc or .txt beside the audio, with the LRC offset', async () => {
    expect((await lyricsOf('Beside')).body).toMatchObject({
      synced: true,
      offsetMs: -120,
      lines: [
        { startMs: 500, text: 'from the lrc' },
        { startMs: 1250, text: 'file' },
      ],
    });
    expect((await lyricsOf('Text Beside')).body).toMatchObject({
      synced: false,
      lines: [{ text: 'text file' }, { text: 'lyrics' }],
    });
  });

  it('answers 404 for a track without lyrics, and says which', async () => {
    const none = await lyricsOf('Silent');
    expect(none.status).toBe(404);
    expect(JSON.stringify(none.body)).toMatch(/has no lyrics/);
    const unknown = await rest('/api/tracks/tr-none/lyrics');
    expect(unknown.status).toBe(404);
    expect(JSON.stringify(unknown.body)).toMatch(/no track tr-none/);
  });

  it('gives OpenSubsonic songLyrics to a published client, as the extension says', async () => {
    const extensions = await client.json('getOpenSubsonicExtensions', {});
    expect(extensions.openSubsonicExtensions).toContainEqual({ name: 'songLyrics', versions: [1] });
    const answer = (await alice.api.getLyricsBySongId({ id: byTitle.get('Beside')!.id })) as unknown as {
      lyricsList: { structuredLyrics: unknown[] };
    };
    expect(answer.lyricsList.structuredLyrics).toEqual([
      {
        displayArtist: 'Lyric Artist',
        displayTitle: 'Beside',
        lang: 'und',
        offset: -120,
        synced: true,
        line: [
          { start: 500, value: 'from the lrc' },
          { start: 1250, value: 'file' },
        ],
      },
    ]);
    const plain = await client.json('getLyricsBySongId', {
      ...client.token(alice),
      id: byTitle.get('Ogg Plain')!.id,
    });
    expect(plain.lyricsList.structuredLyrics[0]).toMatchObject({
      synced: false,
      line: [{ value: 'plain ogg words' }],
    });
    expect(plain.lyricsList.structuredLyrics[0].line[0].start).toBeUndefined();
    const none = await client.json('getLyricsBySongId', {
      ...client.token(alice),
      id: byTitle.get('Silent')!.id,
    });
    // An empty list, as every empty list of this API renders in JSON: no key.
    expect(none.lyricsList).toEqual({});
    const xml = await client.xml('getLyricsBySongId', {
      ...client.token(alice),
      id: byTitle.get('Synced')!.id,
    });
    const lines = findAll(xml, 'line');
    expect(lines.map((l) => [l.attributes.start, l.text])).toEqual([
      ['500', 'ünë'],
      ['1500', 'two'],
    ]);
    await client.fails('getLyricsBySongId', { ...client.token(alice), id: 'tr-none' }, 70);
  });

  it('finds lyrics by artist and title for Subsonic getLyrics, letter case and accents aside', async () => {
    const found = await client.json('getLyrics', {
      ...client.token(alice),
      artist: 'LYRIC artist',
      title: 'unsynced',
    });
    expect(found.lyrics).toEqual({
      artist: 'LYRIC artist',
      title: 'unsynced',
      value: 'Héllo there\nsecond line',
    });
    const xml = await client.xml('getLyrics', {
      ...client.token(alice),
      artist: 'Lyric Artist',
      title: 'Synced',
    });
    expect(findAll(xml, 'lyrics')[0]!.text).toBe('ünë\ntwo');
    expect(
      (await client.json('getLyrics', { ...client.token(alice), artist: 'Nobody', title: 'Synced' })).lyrics,
    ).toEqual({});
    await client.fails('getLyrics', { ...client.token(alice), artist: 'Lyric Artist' }, 10);
  });

  it('prints lyrics in the terminal client, synced lines with their time', async () => {
    const home = await mkdtemp(join(tmpdir(), 'lyrics-client-'));
    try {
      const env = { ...process.env, GATEWAY_URL: client.origin(), MUSIC_CLIENT_HOME: home, NO_COLOR: '1' };
      const cli = (args: string[]) =>
        run(process.execPath, ['--import', 'tsx', 'client/main.ts', ...args], { env, timeout: 20_000 });
      const { stdout } = await cli(['lyrics', byTitle.get('Beside')!.id]);
      expect(stdout.trim().split('\n')).toEqual([
        '[0:00] from the lrc',
        '[0:01] file',
        '(synced lyrics, offset -120 ms, 2 lines)',
      ]);
      const failed = await cli(['lyrics', byTitle.get('Silent')!.id]).catch(
        (err: { code: number; stderr: string }) => err,
      );
      expect(failed).toMatchObject({ code: 1, stderr: expect.stringMatching(/^error: .*has no lyrics/) });
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });

  it('follows a sidecar that changes, goes, or comes, on the next import', async () => {
    const id = byTitle.get('Beside')!.id;
    await writeFile(path('06 Beside.lrc'), '[00:00.10]changed\n');
    const later = new Date(Date.now() + 5000);
    await utimes(path('06 Beside.lrc'), later, later);
    expect(await importNow()).toMatchObject({ read: 1 });
    expect((await lyricsOf('Beside')).body).toMatchObject({
      trackId: id,
      offsetMs: 0,
      lines: [{ startMs: 100, text: 'changed' }],
    });

    // Gone: the tags' lyrics again, same track.
    await rm(path('06 Beside.lrc'));
    expect(await importNow()).toMatchObject({ read: 1 });
    expect((await lyricsOf('Beside')).body).toMatchObject({
      trackId: id,
      synced: false,
      lines: [{ text: 'embedded, under the sidecar' }],
    });

    // A sidecar for a song that had none: picked up without the audio changing.
    await writeFile(path('08 Silent.lrc'), '[00:01.00]not silent now\n');
    const laterStill = new Date(Date.now() + 10_000);
    await utimes(path('08 Silent.lrc'), laterStill, laterStill);
    expect(await importNow()).toMatchObject({ read: 1 });
    expect((await lyricsOf('Silent')).body.lines).toEqual([{ startMs: 1000, text: 'not silent now' }]);

    // An import of the sidecar's path alone (what a watcher reports) reads the audio beside it.
    await writeFile(path('08 Silent.lrc'), '[00:01.00]seen by the watcher\n');
    const last = new Date(Date.now() + 15_000);
    await utimes(path('08 Silent.lrc'), last, last);
    const pool = h.services.get('catalog')!.deps.pool;
    expect(await importFolder(pool, folder, { paths: [path('08 Silent.lrc')] })).toMatchObject({ read: 1 });
    expect((await lyricsOf('Silent')).body.lines).toEqual([{ startMs: 1000, text: 'seen by the watcher' }]);
  });
});
