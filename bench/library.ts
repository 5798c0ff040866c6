/**
 * A tagged test library: N short audio files in Artist/Album/NN Title.ext folders, in five
 * formats the importer reads (mp3, flac, ogg, opus, m4a), each with artist, album, title,
 * track, genre, year and a front cover. ffmpeg encodes a few distinct clips once per format
 * (a second or two of tones) and draws the covers; every file is then a copy of one clip with
 * its own tags written in JavaScript (bench/tags.ts), so 100,000 files take a minute or two,
 * not one ffmpeg process each. Names are made of common words, as a real library's are.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Random } from '../services/catalog/audio/prng.js';
import {
  type Cover,
  type FileTags,
  flacWithTags,
  id3v23,
  mp4WithTags,
  oggWithComment,
  opusTags,
  vorbisTags,
} from './tags.js';

const run = promisify(execFile);

export const LIBRARY_FORMATS = ['mp3', 'flac', 'ogg', 'opus', 'm4a'] as const;
export type LibraryFormat = (typeof LIBRARY_FORMATS)[number];

/** Clip lengths in seconds: each file is one of them, so durations differ. */
const CLIP_SECONDS = [1, 1.5, 2];
const TRACKS_PER_ALBUM = 10;
const ALBUMS_PER_ARTIST = 4;
/** Room the Ogg and MP4 encoders leave for tags (a placeholder comment), cover included. */
const TAG_ROOM = 6000;

export const WORDS = (
  'blue midnight river golden summer winter night day light dark fire water stone wind rain ' +
  'heart soul dream road home city ocean mountain silver shadow morning evening star moon sun ' +
  'velvet electric quiet wild lonely broken falling rising empty open hidden lost little long ' +
  'red black white green echo garden harbor valley desert forest island highway train letter ' +
  'song dance story memory promise secret winterlight glass paper iron honey sugar thunder'
).split(' ');
export const GENRES = [
  'Rock',
  'Jazz',
  'Folk',
  'Electronic',
  'Blues',
  'Classical',
  'Hip-Hop',
  'Pop',
  'Ambient',
  'Soul',
];

export interface LibraryFile {
  /** Relative to the library folder. */
  path: string;
  format: LibraryFormat;
  tags: FileTags;
  /** Of the clip the file holds. */
  seconds: number;
}

export interface LibraryOptions {
  /** The folder to fill (made if missing). */
  dir: string;
  files: number;
  /** Formats used, album by album in turn (all of them by default). */
  formats?: readonly LibraryFormat[];
  /** Same seed, same library. */
  seed?: string;
  /** Files written at once. */
  concurrency?: number;
  onProgress?: (written: number) => void;
}

interface Template {
  format: LibraryFormat;
  seconds: number;
  data: Buffer;
}

const title = (words: string[]) => words.map((w) => w[0]!.toUpperCase() + w.slice(1)).join(' ');

/** What the library holds: the same list for the same seed and size, without writing anything. */
export function describeLibrary(
  files: number,
  formats: readonly LibraryFormat[] = LIBRARY_FORMATS,
  seed = 'library',
): LibraryFile[] {
  const random = new Random(seed);
  const words = (min: number, max: number) =>
    title(Array.from({ length: random.int(min, max) }, () => random.pick(WORDS)));
  const used = new Set<string>();
  const unique = (name: string) => {
    let n = name;
    for (let i = 2; used.has(n.toLowerCase()); i++) n = `${name} ${i}`;
    used.add(n.toLowerCase());
    return n;
  };
  const out: LibraryFile[] = [];
  let artist = '';
  let album = '';
  let genre = '';
  let year = 0;
  let format: LibraryFormat = formats[0]!;
  for (let i = 0; i < files; i++) {
    const albumIndex = Math.floor(i / TRACKS_PER_ALBUM);
    const track = (i % TRACKS_PER_ALBUM) + 1;
    if (track === 1) {
      if (albumIndex % ALBUMS_PER_ARTIST === 0) artist = unique(words(1, 3));
      album = unique(`${artist}\n${words(1, 3)}`).split('\n')[1]!;
      genre = random.pick(GENRES);
      year = random.int(1960, 2025);
      format = formats[albumIndex % formats.length]!;
    }
    const name = words(1, 4);
    const clip = (albumIndex + track) % CLIP_SECONDS.length;
    out.push({
      path: join(safe(artist), safe(album), `${String(track).padStart(2, '0')} ${safe(name)}.${format}`),
      format,
      tags: { artist, album, title: name, track, trackTotal: TRACKS_PER_ALBUM, genre, year },
      seconds: CLIP_SECONDS[clip]!,
    });
  }
  return out;
}

const safe = (name: string) => name.replace(/[/\\:*?"<>|]/g, '_');

/** Makes the library's files; returns what it wrote. */
export async function generateLibrary(opts: LibraryOptions): Promise<LibraryFile[]> {
  const formats = opts.formats ?? LIBRARY_FORMATS;
  const files = describeLibrary(opts.files, formats, opts.seed);
  const work = await mkdtemp(join(tmpdir(), 'library-clips-'));
  try {
    const [templates, covers] = await Promise.all([encodeClips(work, formats), drawCovers(work)]);
    const dirs = new Set(files.map((f) => join(opts.dir, f.path, '..')));
    for (const d of dirs) await mkdir(d, { recursive: true });
    let next = 0;
    let written = 0;
    await Promise.all(
      Array.from({ length: opts.concurrency ?? 32 }, async () => {
        while (next < files.length) {
          const i = next++;
          const f = files[i]!;
          const template = templates.find((t) => t.format === f.format && t.seconds === f.seconds)!;
          const cover = covers[Math.floor(i / TRACKS_PER_ALBUM) % covers.length]!;
          await writeFile(join(opts.dir, f.path), tagged(template, f.tags, cover));
          if (++written % 1000 === 0) opts.onProgress?.(written);
        }
      }),
    );
    return files;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** A copy of a clip with these tags. */
export function tagged(template: Template, tags: FileTags, cover: Cover): Buffer {
  switch (template.format) {
    case 'mp3':
      return Buffer.concat([id3v23(tags, cover), template.data]);
    case 'flac':
      return flacWithTags(template.data, tags, cover);
    case 'ogg':
      return oggWithComment(template.data, vorbisTags(tags, cover));
    case 'opus':
      return oggWithComment(template.data, opusTags(tags, cover));
    case 'm4a':
      return mp4WithTags(template.data, tags, cover);
  }
}

const CODECS: Record<LibraryFormat, string[]> = {
  // No ID3 tag from ffmpeg (ours goes first); the Xing header gives the duration at once.
  mp3: ['-c:a', 'libmp3lame', '-b:a', '64k', '-id3v2_version', '0', '-write_xing', '1'],
  flac: ['-c:a', 'flac'],
  ogg: ['-c:a', 'libvorbis', '-q:a', '0'],
  opus: ['-c:a', 'libopus', '-b:a', '32k'],
  m4a: ['-c:a', 'aac', '-b:a', '48k'],
};

/** One clip per length and format: a chord of sines whose notes depend on the length. */
async function encodeClips(work: string, formats: readonly LibraryFormat[]): Promise<Template[]> {
  const room = ['-metadata', `comment=${'.'.repeat(TAG_ROOM)}`];
  const jobs = formats.flatMap((format) =>
    CLIP_SECONDS.map(async (seconds, i) => {
      const out = join(work, `clip${i}.${format}`);
      const tones = [220 * (i + 2), 330 * (i + 1)];
      await ffmpeg([
        ...tones.flatMap((f) => [
          '-f',
          'lavfi',
          '-i',
          `sine=frequency=${f}:duration=${seconds}:sample_rate=22050`,
        ]),
        '-filter_complex',
        'amix=inputs=2',
        '-ac',
        '1',
        '-map_metadata',
        '-1',
        '-fflags',
        '+bitexact',
        ...(format === 'ogg' || format === 'opus' || format === 'm4a' ? room : []),
        ...CODECS[format],
        out,
      ]);
      return { format, seconds, data: await readFile(out) };
    }),
  );
  return Promise.all(jobs);
}

const ffmpeg = (args: string[]) =>
  run('ffmpeg', ['-nostdin', '-loglevel', 'error', '-y', ...args], { timeout: 60_000 });

/** A few small JPEG covers of plain colours. */
async function drawCovers(work: string): Promise<Cover[]> {
  const colours = ['0x3a6ea5', '0xa53a5e', '0x3aa56e', '0xa5883a'];
  return Promise.all(
    colours.map(async (c, i) => {
      const out = join(work, `cover${i}.jpg`);
      await ffmpeg(['-f', 'lavfi', '-i', `color=c=${c}:s=96x96`, '-frames:v', '1', out]);
      return { mime: 'image/jpeg', data: await readFile(out), width: 96, height: 96 };
    }),
  );
}
