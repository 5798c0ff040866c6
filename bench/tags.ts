/**
 * Writes the tags of generated audio files (bench/library.ts) in JavaScript: a library of
 * 100,000 files cannot wait for one ffmpeg process per file. Each format is written the way
 * real taggers write it: an ID3v2.3 tag before MPEG audio, FLAC metadata blocks, a Vorbis
 * comment packet in Ogg pages, an `ilst` atom in MP4. Ogg and MP4 tags are rewritten in the
 * space the encoder left for them (a long placeholder comment), so no page, chunk offset or
 * atom outside the tag moves.
 */

export interface FileTags {
  artist: string;
  album: string;
  title: string;
  track: number;
  trackTotal: number;
  genre: string;
  year: number;
  lyrics?: TagLyrics;
}

/** Lyrics to write: plain text, or lines with their start in ms (ID3 SYLT; LRC text elsewhere). */
export interface TagLyrics {
  text?: string;
  synced?: Array<{ ms: number; text: string }>;
  /** ISO 639-2, e.g. `eng` (ID3 only). */
  lang?: string;
}

/** Synced lyrics as LRC text, as taggers store them in Vorbis comments. */
export function lrcText(lines: ReadonlyArray<{ ms: number; text: string }>): string {
  const two = (n: number) => String(n).padStart(2, '0');
  return lines
    .map(
      ({ ms, text }) =>
        `[${two(Math.floor(ms / 60_000))}:${two(Math.floor(ms / 1000) % 60)}.${two(Math.floor(ms / 10) % 100)}]${text}`,
    )
    .join('\n');
}

export interface Cover {
  mime: string;
  data: Buffer;
  width: number;
  height: number;
}

const u32be = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};
const u32le = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
};

// ---- MP3: ID3v2.3 ---------------------------------------------------------------------------

function id3Frame(id: string, content: Buffer): Buffer {
  const header = Buffer.alloc(10);
  header.write(id, 0, 'latin1');
  header.writeUInt32BE(content.length, 4);
  return Buffer.concat([header, content]);
}

/** A text frame in UTF-16 with a byte order mark (ID3v2.3 has no UTF-8). */
const id3Text = (id: string, text: string) =>
  id3Frame(id, Buffer.concat([Buffer.from([1, 0xff, 0xfe]), Buffer.from(text, 'utf16le')]));

/** A string in UTF-16 with its byte order mark and the two-byte terminator. */
const utf16z = (text: string) =>
  Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le'), Buffer.alloc(2)]);

/** USLT (plain lyrics) or SYLT (synced, times in ms) frames. */
function id3Lyrics(lyrics: TagLyrics | undefined): Buffer[] {
  if (!lyrics) return [];
  const lang = Buffer.from((lyrics.lang ?? 'eng').slice(0, 3).padEnd(3, ' '), 'latin1');
  const frames: Buffer[] = [];
  if (lyrics.text !== undefined) {
    const text = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(lyrics.text, 'utf16le')]);
    frames.push(id3Frame('USLT', Buffer.concat([Buffer.from([1]), lang, utf16z(''), text])));
  }
  if (lyrics.synced) {
    const lines = lyrics.synced.map(({ ms, text }) => Buffer.concat([utf16z(text), u32be(ms)]));
    // Encoding UTF-16, time stamps in milliseconds (2), content type lyrics (1).
    frames.push(
      id3Frame('SYLT', Buffer.concat([Buffer.from([1]), lang, Buffer.from([2, 1]), utf16z(''), ...lines])),
    );
  }
  return frames;
}

/** An ID3v2.3 tag with the usual frames and a front cover. */
export function id3v23(tags: FileTags, cover: Cover): Buffer {
  const frames = Buffer.concat([
    id3Text('TPE1', tags.artist),
    id3Text('TALB', tags.album),
    id3Text('TIT2', tags.title),
    id3Text('TRCK', `${tags.track}/${tags.trackTotal}`),
    id3Text('TCON', tags.genre),
    id3Text('TYER', String(tags.year)),
    ...id3Lyrics(tags.lyrics),
    id3Frame(
      'APIC',
      Buffer.concat([
        Buffer.from([0]),
        Buffer.from(`${cover.mime}\0`, 'latin1'),
        Buffer.from([3, 0]),
        cover.data,
      ]),
    ),
  ]);
  const header = Buffer.from([0x49, 0x44, 0x33, 3, 0, 0, 0, 0, 0, 0]);
  // The size is "syncsafe": 7 bits per byte.
  const n = frames.length;
  header[6] = (n >>> 21) & 0x7f;
  header[7] = (n >>> 14) & 0x7f;
  header[8] = (n >>> 7) & 0x7f;
  header[9] = n & 0x7f;
  return Buffer.concat([header, frames]);
}

// ---- Vorbis comments (FLAC, Ogg Vorbis, Opus) -------------------------------------------------

/** A FLAC picture block's body, also the value of METADATA_BLOCK_PICTURE (base64) in Ogg. */
export function pictureBlock(cover: Cover): Buffer {
  const mime = Buffer.from(cover.mime, 'latin1');
  return Buffer.concat([
    u32be(3), // front cover
    u32be(mime.length),
    mime,
    u32be(0), // no description
    u32be(cover.width),
    u32be(cover.height),
    u32be(24),
    u32be(0),
    u32be(cover.data.length),
    cover.data,
  ]);
}

/** Vendor string and comment list, as FLAC stores them and Ogg codecs wrap them. */
export function vorbisComment(tags: FileTags, cover: Cover | null): Buffer {
  const fields = [
    `ARTIST=${tags.artist}`,
    `ALBUM=${tags.album}`,
    `TITLE=${tags.title}`,
    `TRACKNUMBER=${tags.track}`,
    `TRACKTOTAL=${tags.trackTotal}`,
    `GENRE=${tags.genre}`,
    `DATE=${tags.year}`,
  ];
  const lyrics = tags.lyrics?.synced ? lrcText(tags.lyrics.synced) : tags.lyrics?.text;
  if (lyrics !== undefined) fields.push(`LYRICS=${lyrics}`);
  if (cover) fields.push(`METADATA_BLOCK_PICTURE=${pictureBlock(cover).toString('base64')}`);
  const vendor = Buffer.from('music-streaming bench');
  const parts = [u32le(vendor.length), vendor, u32le(fields.length)];
  for (const f of fields) {
    const b = Buffer.from(f, 'utf8');
    parts.push(u32le(b.length), b);
  }
  return Buffer.concat(parts);
}

// ---- FLAC ---------------------------------------------------------------------------------------

/**
 * A FLAC file from an encoded one: its STREAMINFO (and seek table) kept, its other metadata
 * replaced by a Vorbis comment and a front cover, its frames as they were.
 */
export function flacWithTags(encoded: Buffer, tags: FileTags, cover: Cover): Buffer {
  if (encoded.toString('latin1', 0, 4) !== 'fLaC') throw new Error('not a FLAC file');
  const kept: Buffer[] = [];
  let at = 4;
  for (;;) {
    const last = (encoded[at]! & 0x80) !== 0;
    const type = encoded[at]! & 0x7f;
    const length = encoded.readUIntBE(at + 1, 3);
    if (type === 0 || type === 3) kept.push(block(type, encoded.subarray(at + 4, at + 4 + length), false));
    at += 4 + length;
    if (last) break;
  }
  const comment = block(4, vorbisComment(tags, null), false);
  const picture = block(6, pictureBlock(cover), true);
  return Buffer.concat([encoded.subarray(0, 4), ...kept, comment, picture, encoded.subarray(at)]);
}

function block(type: number, body: Buffer, last: boolean): Buffer {
  const header = Buffer.alloc(4);
  header[0] = (last ? 0x80 : 0) | type;
  header.writeUIntBE(body.length, 1, 3);
  return Buffer.concat([header, body]);
}

// ---- Ogg (Vorbis, Opus) ----------------------------------------------------------------------

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let r = i << 24;
    for (let k = 0; k < 8; k++) r = r & 0x80000000 ? (r << 1) ^ 0x04c11db7 : r << 1;
    table[i] = r >>> 0;
  }
  return table;
})();

function oggCrc(page: Buffer): number {
  let crc = 0;
  for (let i = 0; i < page.length; i++)
    crc = ((crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ page[i]!) & 0xff]!) >>> 0;
  return crc;
}

/**
 * Replaces the second packet of an Ogg stream (the comment header of Vorbis and Opus) in a
 * copy of `file`, keeping its length: `content` is written at its start and the rest is
 * zeros, which both codecs ignore after the comment list. Only the pages holding it change
 * (their bytes and checksums).
 */
export function oggWithComment(file: Buffer, content: Buffer): Buffer {
  const out = Buffer.from(file);
  const spans: Array<{ start: number; length: number }> = [];
  const pages = new Set<number>();
  let packet = 0;
  let at = 0;
  while (at < out.length && packet <= 1) {
    if (out.toString('latin1', at, at + 4) !== 'OggS') throw new Error(`no Ogg page at byte ${at}`);
    const segments = out[at + 26]!;
    let data = at + 27 + segments;
    for (let s = 0; s < segments; s++) {
      const lace = out[at + 27 + s]!;
      if (packet === 1 && lace > 0) {
        spans.push({ start: data, length: lace });
        pages.add(at);
      }
      data += lace;
      if (lace < 255) packet++;
    }
    at = data;
  }
  const total = spans.reduce((n, s) => n + s.length, 0);
  if (content.length > total)
    throw new Error(`the comment needs ${content.length} bytes; the file has ${total}`);
  const padded = Buffer.alloc(total);
  content.copy(padded);
  let from = 0;
  for (const s of spans) {
    padded.copy(out, s.start, from, from + s.length);
    from += s.length;
  }
  for (const page of pages) {
    const segments = out[page + 26]!;
    let end = page + 27 + segments;
    for (let s = 0; s < segments; s++) end += out[page + 27 + s]!;
    out.writeUInt32LE(0, page + 22);
    out.writeUInt32LE(oggCrc(out.subarray(page, end)), page + 22);
  }
  return out;
}

export const opusTags = (tags: FileTags, cover: Cover) =>
  Buffer.concat([Buffer.from('OpusTags', 'latin1'), vorbisComment(tags, cover)]);

export const vorbisTags = (tags: FileTags, cover: Cover) =>
  Buffer.concat([
    Buffer.from([3]),
    Buffer.from('vorbis', 'latin1'),
    vorbisComment(tags, cover),
    Buffer.from([1]),
  ]);

// ---- MP4 (m4a) ------------------------------------------------------------------------------

function atom(type: string, ...body: Buffer[]): Buffer {
  const content = Buffer.concat(body);
  const header = Buffer.alloc(8);
  header.writeUInt32BE(8 + content.length);
  header.write(type, 4, 'latin1');
  return Buffer.concat([header, content]);
}

const dataAtom = (kind: number, value: Buffer) => atom('data', u32be(kind), u32be(0), value);
const textItem = (type: string, text: string) => atom(type, dataAtom(1, Buffer.from(text, 'utf8')));

/** Finds a child atom by type between `start` and `end`: its offset and size. */
function findAtom(file: Buffer, start: number, end: number, type: string): { at: number; size: number } {
  for (let at = start; at + 8 <= end; ) {
    const size = file.readUInt32BE(at);
    if (size < 8) break;
    if (file.toString('latin1', at + 4, at + 8) === type) return { at, size };
    at += size;
  }
  throw new Error(`no ${type} atom`);
}

/**
 * An MP4 file whose `moov/udta/meta/ilst` holds the given tags and cover; the new list is
 * followed by a `free` atom filling the space the old one took, so nothing else moves.
 */
export function mp4WithTags(file: Buffer, tags: FileTags, cover: Cover): Buffer {
  const moov = findAtom(file, 0, file.length, 'moov');
  const udta = findAtom(file, moov.at + 8, moov.at + moov.size, 'udta');
  const meta = findAtom(file, udta.at + 8, udta.at + udta.size, 'meta');
  const ilst = findAtom(file, meta.at + 12, meta.at + meta.size, 'ilst');
  const trkn = Buffer.alloc(8);
  trkn.writeUInt16BE(tags.track, 2);
  trkn.writeUInt16BE(tags.trackTotal, 4);
  const list = atom(
    'ilst',
    textItem('\xa9ART', tags.artist),
    textItem('\xa9alb', tags.album),
    textItem('\xa9nam', tags.title),
    atom('trkn', dataAtom(0, trkn)),
    textItem('\xa9gen', tags.genre),
    textItem('\xa9day', String(tags.year)),
    atom('covr', dataAtom(cover.mime === 'image/png' ? 14 : 13, cover.data)),
  );
  const spare = ilst.size - list.length;
  if (spare !== 0 && spare < 8)
    throw new Error(`the tags need ${list.length} bytes; the file has ${ilst.size}`);
  const out = Buffer.from(file);
  list.copy(out, ilst.at);
  if (spare > 0) {
    out.fill(0, ilst.at + list.length, ilst.at + ilst.size);
    out.writeUInt32BE(spare, ilst.at + list.length);
    out.write('free', ilst.at + list.length + 4, 'latin1');
  }
  return out;
}
