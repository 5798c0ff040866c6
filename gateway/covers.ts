import { promisify } from 'node:util';
import { crc32, deflate } from 'node:zlib';
import type { Response } from 'express';
import { LruCache } from '../common/index.js';
import { ifFound, type Services } from './services.js';

/**
 * Covers are generated: a square PNG in the album's colour. Their ids say what they are a
 * cover of (`al-<album>`, `ar-<artist>`, `pl-<playlist>`), so drawing one takes one lookup.
 */
export const coverId = {
  album: (id: string) => `al-${id}`,
  artist: (id: string) => `ar-${id}`,
  playlist: (id: string) => `pl-${id}`,
};

/** The colour of covers for things without one (an empty playlist, an artist without albums). */
export const NEUTRAL_COLOR = '#6b7280';

/** `#rgb` or `#rrggbb` as bytes; anything else is the neutral colour. */
export function parseColor(css: string): [number, number, number] {
  let hex = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(css.trim())?.[1] ?? NEUTRAL_COLOR.slice(1);
  if (hex.length === 3) hex = [...hex].map((c) => c + c).join('');
  return [0, 2, 4].map((i) => Number.parseInt(hex.slice(i, i + 2), 16)) as [number, number, number];
}

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

const deflateAsync = promisify(deflate);

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/**
 * A `size`×`size` PNG of one colour: 8-bit RGB, every row unfiltered. Compressing a large one
 * takes milliseconds of CPU, so it runs in libuv's thread pool, never on the event loop.
 */
export async function solidPng(color: string, size: number): Promise<Buffer> {
  const [r, g, b] = parseColor(color);
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // colour type: truecolour
  // compression, filter and interlace methods stay 0
  const row = Buffer.alloc(1 + size * 3);
  for (let x = 0; x < size; x++) row.set([r, g, b], 1 + x * 3);
  const pixels = Buffer.concat(Array.from({ length: size }, () => row));
  return Buffer.concat([
    SIGNATURE,
    chunk('IHDR', header),
    chunk('IDAT', await deflateAsync(pixels)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/**
 * Generated covers by colour and size: few colours, few sizes, and each costs a deflate. One
 * is made at a time (requests for the same one share it), so a flood of sizes cannot take the
 * thread pool the audio files are read with.
 */
export class CoverCache {
  private readonly cache = new LruCache<string, Buffer>(500, 60 * 60_000);
  private readonly making = new Map<string, Promise<Buffer>>();
  private queue: Promise<unknown> = Promise.resolve();

  get(color: string, size: number): Promise<Buffer> {
    const key = `${color}/${size}`;
    const png = this.cache.get(key);
    if (png) return Promise.resolve(png);
    let made = this.making.get(key);
    if (!made) {
      made = this.queue.then(() => solidPng(color, size));
      this.queue = made.catch(() => {});
      this.making.set(key, made);
      void made.then(
        (done) => {
          this.cache.set(key, done);
          this.making.delete(key);
        },
        () => this.making.delete(key),
      );
    }
    return made;
  }
}

/** Largest cover drawn, in pixels. */
export const MAX_COVER_SIZE = 1024;

/**
 * The colour of a catalog cover: an album's own, an artist's first album's (neutral without
 * one), or for a bare id (players ask by an album's or a song's own id) that album's. Undefined
 * when the catalog has no such thing (and for playlist covers, which need a caller).
 */
export async function catalogCoverColor(
  catalog: Services['catalog'],
  id: string,
): Promise<string | undefined> {
  const albumColor = async (albumId: string) =>
    (await catalog.call('getAlbums', { ids: [albumId] }))[0]?.coverColor;
  const [, kind, rest] = /^(al|ar|pl)-(.+)$/.exec(id) ?? [];
  if (kind === 'al') return albumColor(rest!);
  if (kind === 'ar') {
    const found = await ifFound(catalog.call('getArtist', { id: rest! }));
    return found && (found.albums[0]?.coverColor ?? NEUTRAL_COLOR);
  }
  if (kind === 'pl') return undefined;
  const track = await catalog.call('getTracks', { ids: [id] });
  return albumColor(track[0]?.albumId ?? id);
}

/** Answers with the cover of `color` at `size`; a matching If-None-Match gets a 304 (express `send`). */
export async function sendCover(
  res: Response,
  covers: CoverCache,
  color: string,
  size: number,
): Promise<void> {
  const png = await covers.get(color, size);
  res
    .type('image/png')
    .set('Cache-Control', 'private, max-age=86400')
    .set('ETag', `"${color.slice(1)}-${size}"`)
    .send(png);
}
