/**
 * ReplayGain, from the tags a scanner wrote to what players use: read at import (Vorbis
 * comments, ID3 TXXX), served on tracks (REST) and as OpenSubsonic `replayGain` on songs; the
 * web player's volume factor (its browser test is in test/web.test.ts).
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findPlayer } from '../client/player.js';
import { catalogContract, type Track } from '../common/contracts/catalog.js';
import { cleanGain, gainDb, gainFactor } from '../common/contracts/replay-gain.js';
import { usersContract } from '../common/contracts/users.js';
import { importFolder } from '../services/catalog/index.js';
import { type Account, subsonicClient } from './support/subsonic-client.js';
import { type SubsonicHarness, startSubsonic } from './support/subsonic-harness.js';
import { findAll } from './support/xml.js';

const run = promisify(execFile);
const ffmpeg = (args: string[]) => run('ffmpeg', ['-nostdin', '-loglevel', 'error', '-y', ...args]);

describe('ReplayGain in the players', () => {
  const gain = { trackGain: -6, trackPeak: 0.9, albumGain: -3, albumPeak: 0.95 };

  it('attenuates by the track or album gain, and not at all when off or untagged', () => {
    expect(gainFactor(gain, 'track')).toBeCloseTo(10 ** (-6 / 20), 6);
    expect(gainFactor(gain, 'album')).toBeCloseTo(10 ** (-3 / 20), 6);
    expect(gainFactor(gain, 'off')).toBe(1);
    expect(gainFactor(undefined, 'track')).toBe(1);
    // One kind missing: the other stands in.
    expect(gainFactor({ albumGain: -2 }, 'track')).toBeCloseTo(10 ** (-2 / 20), 6);
  });

  it('never amplifies (an audio element cannot), so it never clips', () => {
    expect(gainFactor({ trackGain: 6, trackPeak: 0.5 }, 'track')).toBe(1);
    expect(gainFactor({ trackGain: -1, trackPeak: 1.5 }, 'track')).toBeCloseTo(1 / 1.5, 6);
  });

  it('gives a player with a volume filter the whole gain, lowered where the peak would clip', () => {
    expect(gainDb({ trackGain: 8, trackPeak: 0.5 }, 'track')).toBeCloseTo(-20 * Math.log10(0.5), 6);
    expect(gainDb({ trackGain: 3, trackPeak: 0.5 }, 'track')).toBe(3);
    expect(gainDb(gain, 'album')).toBe(-3);
    expect(gainDb(gain, 'off')).toBeUndefined();
  });

  it('passes it to the terminal client’s player where it can, as MUSIC_REPLAYGAIN says', () => {
    const track = { mimeType: 'audio/flac', replayGain: gain };
    const only = (name: string) => (command: string) => command === name;
    expect(findPlayer(track, {}, only('ffplay'))!.args.slice(0, 2)).toEqual(['-af', 'volume=-6.00dB']);
    expect(findPlayer(track, { MUSIC_REPLAYGAIN: 'album' }, only('mpv'))!.args[0]).toBe(
      '--af=lavfi=[volume=-3.00dB]',
    );
    expect(findPlayer(track, { MUSIC_REPLAYGAIN: 'off' }, only('ffplay'))!.args[0]).toBe('-nodisp');
    // A player without a filter plays as it is; so does one the listener chose.
    expect(findPlayer(track, {}, only('paplay'))!.args).toEqual([]);
    expect(findPlayer(track, { MUSIC_PLAYER: 'ffplay -i pipe:0' }, only('ffplay'))!.args).toEqual([
      '-i',
      'pipe:0',
    ]);
  });

  it('keeps only numbers in range from storage', () => {
    expect(cleanGain({ trackGain: -5, trackPeak: 0.8, albumGain: 'x', albumPeak: 99 })).toEqual({
      trackGain: -5,
      trackPeak: 0.8,
    });
    expect(cleanGain('loud')).toBeUndefined();
    expect(cleanGain({})).toBeUndefined();
  });
});

describe('ReplayGain of an imported library', () => {
  let h: SubsonicHarness;
  let folder: string;
  let alice: Account;
  const byTitle = new Map<string, Track>();
  const client = subsonicClient(
    () => h.url,
    () => h.rpc.bind(usersContract),
  );
  const path = (name: string) => join(folder, 'Gain Artist', 'Levels', name);

  beforeAll(async () => {
    h = await startSubsonic();
    alice = await client.account('alice');
    folder = await mkdtemp(join(tmpdir(), 'replay-gain-'));
    await mkdir(path(''), { recursive: true });
    const tone = ['-f', 'lavfi', '-i', 'sine=frequency=330:duration=2'];
    const tags = (title: string, n: number) => [
      ...['-metadata', `title=${title}`, '-metadata', 'artist=Gain Artist', '-metadata', 'album=Levels'],
      ...['-metadata', `track=${n}`],
    ];
    await ffmpeg([
      ...tone,
      ...tags('Loud Flac', 1),
      ...['-metadata', 'REPLAYGAIN_TRACK_GAIN=-6.50 dB', '-metadata', 'REPLAYGAIN_TRACK_PEAK=0.891'],
      ...['-metadata', 'REPLAYGAIN_ALBUM_GAIN=-4.00 dB', '-metadata', 'REPLAYGAIN_ALBUM_PEAK=0.95'],
      path('01 Loud Flac.flac'),
    ]);
    await ffmpeg([
      ...tone,
      '-c:a',
      'libmp3lame',
      ...tags('Quiet Mp3', 2),
      ...['-metadata', 'REPLAYGAIN_TRACK_GAIN=+2.10 dB', '-metadata', 'REPLAYGAIN_TRACK_PEAK=0.5'],
      path('02 Quiet Mp3.mp3'),
    ]);
    await ffmpeg([
      ...tone,
      ...tags('Damaged', 3),
      '-metadata',
      'REPLAYGAIN_TRACK_GAIN=-999 dB',
      path('03 Damaged.flac'),
    ]);
    await ffmpeg([...tone, ...tags('Untagged', 4), path('04 Untagged.flac')]);
    expect(await importFolder(h.services.get('catalog')!.deps.pool, folder)).toMatchObject({
      read: 4,
      skipped: [],
    });
    const catalog = h.rpc.bind(catalogContract);
    const found = await catalog.call('search', { q: 'Levels', limit: 5 });
    for (const t of (await catalog.call('getAlbum', { id: found.albums[0]!.id })).tracks)
      byTitle.set(t.title, t);
  }, 120_000);

  afterAll(async () => {
    await h?.close();
    if (folder) await rm(folder, { recursive: true, force: true });
  });

  it('reads track and album gain and peak from Vorbis comments and ID3, and leaves out damaged values', () => {
    expect(byTitle.get('Loud Flac')!.replayGain).toEqual({
      trackGain: -6.5,
      trackPeak: expect.closeTo(0.891, 5),
      albumGain: -4,
      albumPeak: expect.closeTo(0.95, 5),
    });
    expect(byTitle.get('Quiet Mp3')!.replayGain).toEqual({
      trackGain: expect.closeTo(2.1, 5),
      trackPeak: 0.5,
    });
    expect(byTitle.get('Damaged')!.replayGain).toBeUndefined();
    expect(byTitle.get('Untagged')!.replayGain).toBeUndefined();
  });

  it('serves it on REST tracks and as OpenSubsonic replayGain on songs, JSON and XML', async () => {
    const rest = await fetch(`${client.origin()}/api/tracks/${byTitle.get('Loud Flac')!.id}`);
    expect(((await rest.json()) as Track).replayGain).toMatchObject({ trackGain: -6.5, albumGain: -4 });
    const { song } = await client.json('getSong', {
      ...client.token(alice),
      id: byTitle.get('Loud Flac')!.id,
    });
    expect(song.replayGain).toMatchObject({ trackGain: -6.5, albumGain: -4 });
    expect(song.replayGain.trackPeak).toBeCloseTo(0.891, 5);
    const untagged = await client.json('getSong', {
      ...client.token(alice),
      id: byTitle.get('Untagged')!.id,
    });
    expect(untagged.song.replayGain).toBeUndefined();
    const xml = await client.xml('getAlbum', {
      ...client.token(alice),
      id: byTitle.get('Quiet Mp3')!.albumId,
    });
    const gains = findAll(xml, 'replayGain');
    expect(gains).toHaveLength(2);
    expect(Number(gains.find((g) => g.attributes.trackPeak === '0.5')!.attributes.trackGain)).toBeCloseTo(
      2.1,
      5,
    );
    // What a published client reads.
    const { song: viaLibrary } = await alice.api.getSong({ id: byTitle.get('Quiet Mp3')!.id });
    expect(viaLibrary.replayGain?.trackPeak).toBe(0.5);
  });
});
