import { InvalidParamsError, type Queryable } from '../../common/index.js';

/**
 * Pages of a listing at any depth, in time independent of the catalog's size.
 *
 * Each listing is ordered by keys that one btree index holds in that order (migration 004),
 * so a page is a keyset range: `WHERE (keys) > (the last row's) ORDER BY keys LIMIT n`. A
 * `cursor` is that last row's keys, opaque to clients. An `offset` (Subsonic players page with
 * it) is turned into a keyset range through anchors: the keys of every ANCHOR_EVERY-th row,
 * sampled once per catalog version (any write bumps it) and kept per worker; the page then
 * starts at the anchor before the offset and skips fewer than ANCHOR_EVERY index entries.
 */

/**
 * Rows between two anchors: the most a deep page skips. A scoped listing checks each entry it
 * skips (its library in the index; an artist's in library_artists), so fewer is faster; the
 * anchors of a million-row listing are 4,000 keys.
 */
const ANCHOR_EVERY = 250;
/** Listings (with their filters) whose anchors a worker keeps. */
const ANCHOR_SETS_MAX = 64;

type KeyType = 'text' | 'int' | 'timestamptz';

export interface Listing {
  /** The table and its alias, e.g. `tracks t`. */
  from: string;
  /** The row id column. */
  id: string;
  /** The order: SQL expressions over the row, never null, as an index of migration 004 holds them. */
  keys: ReadonlyArray<readonly [expr: string, type: KeyType]>;
  /** Newest first: every key descending. */
  descending?: boolean;
}

const ALBUM_TIE = [
  ['al.search_name', 'text'],
  ['al.title', 'text'],
  ['al.id', 'text'],
] as const;

export const LISTINGS = {
  artists: {
    from: 'artists ar',
    id: 'ar.id',
    keys: [
      ['ar.search_name', 'text'],
      ['ar.name', 'text'],
      ['ar.id', 'text'],
    ],
  },
  albums: { from: 'albums al', id: 'al.id', keys: ALBUM_TIE },
  albumsByArtist: {
    from: 'albums al',
    id: 'al.id',
    keys: [['al.artist_sort', 'text'], ['al.artist_id', 'text'], ...ALBUM_TIE],
  },
  albumsNewest: {
    from: 'albums al',
    id: 'al.id',
    keys: [
      ['al.created_at', 'timestamptz'],
      ['al.id', 'text'],
    ],
    descending: true,
  },
  albumsByYear: { from: 'albums al', id: 'al.id', keys: [['coalesce(al.year, 10000)', 'int'], ...ALBUM_TIE] },
  albumsLatestYears: {
    from: 'albums al',
    id: 'al.id',
    keys: [['coalesce(-al.year, 1)', 'int'], ...ALBUM_TIE],
  },
  tracks: {
    from: 'tracks t',
    id: 't.id',
    keys: [
      ['t.artist_sort', 'text'],
      ['t.album_sort', 'text'],
      ['t.album_id', 'text'],
      ['coalesce(t.number, 2147483647)', 'int'],
      ['t.search_name', 'text'],
      ['t.id', 'text'],
    ],
  },
} satisfies Record<string, Listing>;

/** The ORDER BY of a listing (for queries that want its order without paging). */
export function orderBy(listing: Listing): string {
  return listing.keys.map(([expr]) => `${expr}${listing.descending ? ' DESC' : ''}`).join(', ');
}

/** Conditions on a listing's rows, their parameters numbered from `$1`. */
export interface Filter {
  where: string[];
  params: unknown[];
}

export interface PageAsk {
  limit: number;
  offset: number;
  cursor?: string | undefined;
}

export interface IdPage {
  ids: string[];
  /** Where the next page starts; null after the last. */
  nextCursor: string | null;
}

interface Anchors {
  version: string;
  keys: string[][];
}

export class Pager {
  private readonly anchors = new Map<string, Promise<Anchors>>();

  constructor(private readonly db: Queryable) {}

  async page(listing: Listing, filter: Filter, ask: PageAsk): Promise<IdPage> {
    const where = [...filter.where];
    const params = [...filter.params];
    const keys = listing.keys.map(([expr]) => expr);
    const after = (values: string[]) => {
      const placeholders = values.map((v, i) => {
        params.push(v);
        return `$${params.length}::${listing.keys[i]![1]}`;
      });
      where.push(`(${keys.join(', ')}) ${listing.descending ? '<' : '>'} (${placeholders.join(', ')})`);
    };
    let skip = ask.offset;
    if (ask.cursor !== undefined) {
      after(
        decodeCursor(
          ask.cursor,
          listing.keys.map(([, type]) => type),
        ),
      );
      skip = 0;
    } else if (skip >= ANCHOR_EVERY) {
      const { keys: anchors } = await this.anchorsOf(listing, filter);
      const n = Math.min(Math.floor(skip / ANCHOR_EVERY), anchors.length);
      if (n > 0) {
        after(anchors[n - 1]!);
        skip -= n * ANCHOR_EVERY;
      }
    }
    params.push(ask.limit, skip);
    const sql = `SELECT ${listing.id} AS id, ${keys.map((k, i) => `(${k})::text AS k${i}`).join(', ')}
      FROM ${listing.from} ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY ${orderBy(listing)} LIMIT $${params.length - 1} OFFSET $${params.length}`;
    const { rows } = await this.db.query<Record<string, string>>(sql, params);
    const last = rows.at(-1);
    return {
      ids: rows.map((r) => r.id!),
      nextCursor:
        rows.length === ask.limit && last ? encodeCursor(listing.keys.map((_, i) => last[`k${i}`]!)) : null,
    };
  }

  /** The catalog's version: any write to artists, albums or tracks changes it. */
  async version(): Promise<string> {
    const { rows } = await this.db.query<{ version: string }>('SELECT version FROM catalog_totals');
    return rows[0]?.version ?? '0';
  }

  private async anchorsOf(listing: Listing, filter: Filter): Promise<Anchors> {
    const key = JSON.stringify([listing.from, listing.keys, filter.where, filter.params]);
    const version = await this.version();
    const known = this.anchors.get(key);
    if (known) {
      const anchors = await known.catch(() => null);
      if (anchors?.version === version) return anchors;
      if (this.anchors.get(key) !== known) return this.anchorsOf(listing, filter);
    }
    const building = this.sample(listing, filter, version);
    this.anchors.delete(key);
    this.anchors.set(key, building);
    while (this.anchors.size > ANCHOR_SETS_MAX) this.anchors.delete(this.anchors.keys().next().value!);
    return building;
  }

  /**
   * Keys of every ANCHOR_EVERY-th row: one pass over the listing's index (keys made text for
   * the rows kept only, not for every row passed).
   */
  private async sample(listing: Listing, filter: Filter, version: string): Promise<Anchors> {
    const keys = listing.keys.map(([expr]) => expr);
    const { rows } = await this.db.query<{ keys: string[] }>(
      `SELECT ARRAY[${keys.map((_, i) => `k${i}::text`).join(', ')}] AS keys FROM (
         SELECT ${keys.map((k, i) => `${k} AS k${i}`).join(', ')},
                row_number() OVER (ORDER BY ${orderBy(listing)}) AS n
         FROM ${listing.from} ${filter.where.length > 0 ? `WHERE ${filter.where.join(' AND ')}` : ''}
       ) s WHERE n % ${ANCHOR_EVERY} = 0 ORDER BY n`,
      filter.params,
    );
    return { version, keys: rows.map((r) => r.keys) };
  }
}

function encodeCursor(values: string[]): string {
  return Buffer.from(JSON.stringify(values)).toString('base64url');
}

/** What a key of each type looks like as text, so a forged cursor is refused before SQL sees it. */
const KEY_TEXT: Record<KeyType, (v: string) => boolean> = {
  text: () => true,
  int: (v) => /^-?\d{1,10}$/.test(v),
  timestamptz: (v) => /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{1,6})?[+-]\d\d(:\d\d)?$/.test(v),
};

function decodeCursor(cursor: string, types: readonly KeyType[]): string[] {
  try {
    const values: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (
      Array.isArray(values) &&
      values.length === types.length &&
      values.every((v, i) => typeof v === 'string' && KEY_TEXT[types[i]!](v))
    ) {
      return values as string[];
    }
  } catch {
    // reported below
  }
  throw new InvalidParamsError('cursor is not one this listing gave');
}
