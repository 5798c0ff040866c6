/**
 * A generated library for the catalog at scale (bench/catalog.ts, test/catalog-scale.test.ts):
 * 10 tracks an album, 5 albums an artist, names made of common words so that searches match
 * many rows, written with COPY straight into the catalog's tables (the triggers of migration
 * 004 keep the counts as they do for an import). The same rows for the same range, every time.
 */

import { from as copyFrom } from 'pg-copy-streams';
import { type Pool, withTransaction } from '../common/index.js';
import { Random } from '../services/catalog/audio/prng.js';
import { coverColor } from '../services/catalog/store.js';
import { normalizeText } from '../services/catalog/text.js';
import { GENRES, WORDS } from './library.js';

export const TRACKS_PER_ALBUM = 10;
export const ALBUMS_PER_ARTIST = 5;
/** Rows per COPY statement (each fires the count triggers once). */
const CHUNK = 50_000;
/** Ids start here: the seeded catalog's are below. */
export const ID_BASE = 1_000_000;
/**
 * Libraries the rows are spread over, artist by artist in turn (a household's folders, each
 * with its own artists): library 1 (everyone's) and LIBRARIES - 1 more, seen by the users
 * granted them (`grantLibraries`).
 */
export const LIBRARIES = 5;
/** The library an artist's albums and tracks are in. */
export const libraryOfArtist = (a: number) => 1 + (a % LIBRARIES);

const title = (words: string[]) => words.map((w) => w[0]!.toUpperCase() + w.slice(1)).join(' ');

/** Rows planted for the ranking check (in the first stage, so both sizes have them). */
export const PLANTED = {
  artists: ['Blue', 'Zoë Ängström'],
  albums: ['Blue', 'Paper Lanterns'],
  tracks: ['Blue', '100% Blue'],
};

export interface Range {
  from: number;
  to: number;
}

/** The library's rows from track `range.from` to `range.to` (and their albums and artists), as COPY text. */
function generate(range: Range, used: Set<string>) {
  const libraryOfAlbum = (b: number) => libraryOfArtist(Math.floor(b / ALBUMS_PER_ARTIST));
  const artists: string[] = [];
  const albums: string[] = [];
  const tracks: string[] = [];
  const artistNames = new Map<number, string>();
  const albumRows = new Map<number, { title: string; genre: string; year: number; artistSort: string }>();
  const esc = (s: string) => s.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n');
  const unique = (scope: string, name: string) => {
    let n = name;
    for (let i = 2; used.has(`${scope}\n${n.toLowerCase()}`); i++) n = `${name} ${i}`;
    used.add(`${scope}\n${n.toLowerCase()}`);
    return n;
  };
  const firstAlbum = Math.floor(range.from / TRACKS_PER_ALBUM);
  const lastAlbum = Math.ceil(range.to / TRACKS_PER_ALBUM);
  for (let b = firstAlbum; b < lastAlbum; b++) {
    const a = Math.floor(b / ALBUMS_PER_ARTIST);
    if (!artistNames.has(a)) {
      const random = new Random(`artist${a}`);
      const planted = a < PLANTED.artists.length ? PLANTED.artists[a] : undefined;
      const name = unique(
        'artist',
        planted ?? title(Array.from({ length: random.int(1, 3) }, () => random.pick(WORDS))),
      );
      artistNames.set(a, name);
      artists.push(`ar${ID_BASE + a}\t${esc(name)}\t${esc(normalizeText(name))}\n`);
    }
    const artist = artistNames.get(a)!;
    const random = new Random(`album${b}`);
    const planted = b < PLANTED.albums.length ? PLANTED.albums[b] : undefined;
    const albumTitle = unique(
      `album\n${a}`,
      planted ?? title(Array.from({ length: random.int(1, 3) }, () => random.pick(WORDS))),
    );
    const row = {
      title: albumTitle,
      genre: random.pick(GENRES).toLowerCase(),
      year: random.int(1960, 2025),
      artistSort: normalizeText(artist),
    };
    albumRows.set(b, row);
    albums.push(
      `${[
        `al${ID_BASE + b}`,
        `ar${ID_BASE + a}`,
        esc(albumTitle),
        row.year,
        row.genre,
        coverColor(`${artist}\n${albumTitle}`),
        esc(normalizeText(albumTitle)),
        esc(normalizeText(artist)),
        esc(row.artistSort),
        libraryOfAlbum(b),
      ].join('\t')}\n`,
    );
  }
  for (let i = range.from; i < range.to; i++) {
    const b = Math.floor(i / TRACKS_PER_ALBUM);
    const album = albumRows.get(b)!;
    const artist = artistNames.get(Math.floor(b / ALBUMS_PER_ARTIST))!;
    const random = new Random(`track${i}`);
    const planted = i < PLANTED.tracks.length ? PLANTED.tracks[i] : undefined;
    const name = planted ?? title(Array.from({ length: random.int(1, 4) }, () => random.pick(WORDS)));
    const id = ID_BASE + i;
    tracks.push(
      `${[
        `tr${id}`,
        `al${ID_BASE + b}`,
        esc(name),
        (i % TRACKS_PER_ALBUM) + 1,
        random.int(60_000, 420_000),
        `/library/${id}.mp3`,
        'audio/mpeg',
        random.int(1_000_000, 10_000_000),
        esc(normalizeText(name)),
        esc(normalizeText(`${album.title} ${artist}`)),
        esc(album.artistSort),
        esc(normalizeText(album.title)),
        album.genre,
        album.year,
        id,
        libraryOfAlbum(b),
      ].join('\t')}\n`,
    );
  }
  return { artists, albums, tracks };
}

async function copy(pool: Pool, sql: string, lines: string[]): Promise<void> {
  for (let i = 0; i < lines.length; i += CHUNK) {
    await withTransaction(pool, async (client) => {
      const stream = client.query(copyFrom(sql));
      const done = new Promise<void>((resolve, reject) => {
        stream.on('finish', resolve);
        stream.on('error', reject);
      });
      stream.end(lines.slice(i, i + CHUNK).join(''));
      await done;
    });
  }
}

/**
 * Loads the tracks of `range` (and their albums and artists) into `schema` with COPY; returns
 * the seconds it took. Ranges start at multiples of 50 (a whole artist); `used` carries the
 * names taken by earlier ranges.
 */
export async function loadCatalog(
  pool: Pool,
  schema: string,
  range: Range,
  used: Set<string>,
): Promise<number> {
  const started = performance.now();
  await pool.query(
    `INSERT INTO ${schema}.libraries (id, name, everyone) OVERRIDING SYSTEM VALUE
     SELECT n, 'Library ' || n, false FROM generate_series(2, $1::int) n ON CONFLICT DO NOTHING`,
    [LIBRARIES],
  );
  await pool.query(
    `SELECT setval(pg_get_serial_sequence('${schema}.libraries', 'id'), (SELECT max(id) FROM ${schema}.libraries))`,
  );
  // Generated in slices so a million rows of text never sit in memory at once.
  const SLICE = 200_000;
  for (let from = range.from; from < range.to; from += SLICE) {
    const rows = generate({ from, to: Math.min(range.to, from + SLICE) }, used);
    await copy(pool, `COPY ${schema}.artists (id, name, search_name) FROM STDIN`, rows.artists);
    await copy(
      pool,
      `COPY ${schema}.albums (id, artist_id, title, year, genre, cover_color, search_name, search_context, artist_sort,
                            library_id) FROM STDIN`,
      rows.albums,
    );
    await copy(
      pool,
      `COPY ${schema}.tracks (id, album_id, title, number, duration_ms, file_path, mime_type, size_bytes, search_name,
                            search_context, artist_sort, album_sort, genre, year, seq, library_id) FROM STDIN`,
      rows.tracks,
    );
  }
  await pool.query(
    `VACUUM ANALYZE ${schema}.artists, ${schema}.albums, ${schema}.tracks, ${schema}.library_artists,
       ${schema}.library_genres`,
  );
  return (performance.now() - started) / 1000;
}

/** Lets `userId` see libraries `ids` (of those loadCatalog made). */
export async function grantLibraries(
  pool: Pool,
  schema: string,
  userId: string,
  ids: number[],
): Promise<void> {
  await pool.query(
    `INSERT INTO ${schema}.library_grants (library_id, user_id) SELECT unnest($1::int[]), $2 ON CONFLICT DO NOTHING`,
    [ids, userId],
  );
}
