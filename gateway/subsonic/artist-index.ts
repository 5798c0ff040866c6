import { createHash } from 'node:crypto';
import type { Artist, CatalogContract } from '../../common/contracts/index.js';
import type { ServiceClient } from '../../common/index.js';
import { type Call, SENT } from './context.js';
import { artist, artistFolder, artistIndex, type Marks } from './models.js';
import { type Body, render, renderOnce } from './response.js';

type Shape = 'id3' | 'folder';
const SHAPES: Record<Shape, (a: Artist, marks: Marks) => Body> = { id3: artist, folder: artistFolder };
const NO_MARKS: Marks = {
  starred: { songs: new Map(), albums: new Map(), artists: new Map() },
  rated: { songs: new Map(), albums: new Map(), artists: new Map() },
};

/**
 * Most artists kept rendered, over every version and set of libraries kept (an entry of the
 * biggest library counts its artists): three answers of ARTIST_INDEX_MAX artists, many more
 * of a household's usual size.
 */
export const ARTISTS_KEPT = 150_000;
/** Most bytes of whole answers kept encoded (a 20,000-artist `getArtists` is about 3 MB of JSON). */
export const ANSWER_BYTES_KEPT = 24 * 1024 * 1024;

/** The index as one caller sees it, and since when this gateway has known it so. */
export interface SeenIndex {
  groups: Body[];
  /** When this gateway first fetched this version of the index (ms): its `lastModified`. */
  since: number;
}

interface Rendered {
  bodies: Promise<Body[]>;
  since: number;
  /** The artists it holds, once fetched: what it weighs against ARTISTS_KEPT. */
  artists: number;
}

/** A whole answer encoded once, for every caller without marks. */
interface Encoded {
  contentType: string;
  bytes: Buffer;
  etag: string;
}

/**
 * Entries kept in use order (a Map's insertion order, refreshed on use) until their weights
 * pass a budget; the newest entry is always kept.
 */
export class Budgeted<V> {
  private readonly entries = new Map<string, V>();

  constructor(
    private readonly budget: number,
    private readonly weight: (value: V) => number,
  ) {}

  get(key: string): V | undefined {
    const value = this.entries.get(key);
    if (value !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, value);
    }
    return value;
  }

  set(key: string, value: V): void {
    this.entries.delete(key);
    this.entries.set(key, value);
    this.trim();
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  /** Drops the least recently used entries while the total passes the budget. */
  trim(): void {
    let total = 0;
    for (const value of this.entries.values()) total += this.weight(value);
    for (const [key, value] of this.entries) {
      if (total <= this.budget || this.entries.size === 1) return;
      this.entries.delete(key);
      total -= this.weight(value);
    }
  }

  get size(): number {
    return this.entries.size;
  }
}

/** Whether an If-None-Match header names `etag` (compared weakly, as RFC 9110 says), or is `*`. */
export function holds(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  const opaque = etag.replace(/^W\//, '');
  return ifNoneMatch.split(',').some((tag) => {
    const t = tag.trim();
    return t === '*' || t.replace(/^W\//, '') === opaque;
  });
}

const hasMarks = (marks: Marks) => marks.starred.artists.size > 0 || marks.rated.artists.size > 0;

/**
 * The artist index (`getArtists`, `getIndexes`: every artist of a 20,000-artist library),
 * fetched and rendered once per catalog version (and set of libraries seen) rather than per
 * call, down to its JSON and XML text (response.ts `renderOnce`). A call asks the catalog its
 * version (one row) while it asks for the caller's stars and ratings; a caller who marked no
 * artist gets the whole answer as bytes encoded once (and 304 when its ETag is current), the
 * others the kept answer with their marks copied onto the artists they marked.
 */
export class ArtistIndexCache {
  /** Rendered shapes by the version the catalog gave (it names the libraries the caller sees) and shape. */
  private readonly rendered = new Budgeted<Rendered>(ARTISTS_KEPT, (r) => r.artists);
  private readonly answers = new Budgeted<Encoded>(ANSWER_BYTES_KEPT, (e) => e.bytes.length);

  constructor(private readonly catalog: ServiceClient<CatalogContract>) {}

  /**
   * Answers `call` with the index in `shape`, wrapped in its endpoint's body by `wrap` (which
   * must depend on nothing but what it is given): sends it and returns SENT when the caller
   * marked no artist, else returns the body to send. `unchanged` may answer instead, with a
   * body of its own (not kept), when the caller holds this version already.
   */
  async answer(
    call: Call,
    shape: Shape,
    wrap: (seen: SeenIndex) => Body,
    unchanged?: (seen: SeenIndex) => Body | undefined,
  ): Promise<Body | typeof SENT> {
    const [marks, { key, seen }] = await Promise.all([call.marks(), this.seen(shape, call)]);
    const short = unchanged?.(seen);
    if (short) return short;
    if (hasMarks(marks) || call.format.kind === 'jsonp')
      return wrap({ ...seen, groups: marked(seen.groups, marks) });
    const answerKey = `${key}/${call.format.kind}`;
    let encoded = this.answers.get(answerKey);
    if (!encoded) {
      const { contentType, text } = render('ok', wrap(seen), call.format);
      const bytes = Buffer.from(text, 'utf8');
      const etag = `"${createHash('sha1').update(bytes).digest('base64url')}"`;
      encoded = { contentType, bytes, etag };
      this.answers.set(answerKey, encoded);
    }
    const { res, req } = call;
    res.status(200).type(encoded.contentType).set('ETag', encoded.etag);
    // A player that kept the answer (If-None-Match) is told it is still current.
    if (holds(req.get('if-none-match'), encoded.etag)) res.status(304).end();
    else res.set('Content-Length', String(encoded.bytes.length)).end(encoded.bytes);
    return SENT;
  }

  /** The index as the caller sees it (the libraries they see, or the one `library` they asked for). */
  private async seen(
    shape: Shape,
    { caller, library }: Partial<Pick<Call, 'caller' | 'library'>>,
  ): Promise<{ key: string; seen: SeenIndex }> {
    // Every Subsonic call has a caller; the address only tells the catalog a client asks.
    const catalog = this.catalog.actingFor(caller, 'subsonic');
    const { version } = await catalog.call('version', { library });
    const key = `${version}/${library ?? ''}/${shape}`;
    let rendered = this.rendered.get(key);
    if (!rendered) {
      const entry: Rendered = {
        since: Date.now(),
        artists: 0,
        bodies: catalog.call('artistIndex', { library }).then((groups) => {
          entry.artists = groups.reduce((n, g) => n + g.artists.length, 0);
          this.rendered.trim();
          // Rendered to text once too, as a whole and group by group (a caller's marks copy only their groups).
          return renderOnce(artistIndex(groups, (a) => SHAPES[shape](a, NO_MARKS)).map(renderOnce));
        }),
      };
      rendered = entry;
      this.rendered.set(key, entry);
      // A failed fetch is not kept: the next call tries again.
      entry.bodies.catch(() => {
        if (this.rendered.get(key) === entry) this.rendered.delete(key);
      });
    }
    return { key, seen: { groups: await rendered.bodies, since: rendered.since } };
  }
}

/** The kept groups with the caller's stars and ratings copied onto the artists they marked. */
function marked(groups: Body[], marks: Marks): Body[] {
  if (!hasMarks(marks)) return groups;
  const isMarked = (id: string) => marks.starred.artists.has(id) || marks.rated.artists.has(id);
  return groups.map((g) => {
    const artists = g.artist as Body[];
    if (!artists.some((a) => isMarked(a.id as string))) return g;
    return {
      ...g,
      artist: artists.map((a) =>
        isMarked(a.id as string)
          ? {
              ...a,
              starred: marks.starred.artists.get(a.id as string),
              userRating: marks.rated.artists.get(a.id as string),
            }
          : a,
      ),
    };
  });
}
