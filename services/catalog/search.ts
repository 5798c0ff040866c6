import type { SearchResult } from '../../common/contracts/index.js';
import type { Queryable } from '../../common/index.js';
import {
  ALBUM_ORDER,
  ALBUM_SELECT,
  type AlbumRow,
  ARTIST_ORDER,
  type ArtistRow,
  artistSelect,
  TRACK_ORDER,
  TRACK_SELECT,
  type TrackRow,
  toAlbum,
  toArtist,
  toTrack,
} from './queries.js';
import { inScope, type Scope, scopeParam } from './scope.js';
import { escapeLike, normalizeText, searchTokens } from './text.js';

/**
 * Case- and accent-insensitive search over artists, albums and tracks, ranked in tiers:
 *
 * 0. the name is the query;
 * 1. the name starts with it (as the user types);
 * 2. the name contains it (a fragment inside a word, "%" and "/" found literally);
 * 3. the row's text (album, artist) contains it;
 * 4. every word of the query starts a word of the text, in any order ("river midn").
 *
 * Each tier is one index lookup (btree text_pattern_ops for 0-1, trigram GIN for 2-4, from
 * migration 004) that stops at `limit` rows, and the tiers run in order until `limit` rows are
 * found: however many rows a common word matches, a search reads about `limit` of them. Within
 * a tier, rows keep the listing order. A query shorter than three characters has no trigram:
 * its fragment tiers scan until `limit` rows are found (quick for common letters, a full scan
 * for a rare one such as "%").
 */
export async function search(db: Queryable, q: string, limit: number, scope: Scope): Promise<SearchResult> {
  const normalized = normalizeText(q);
  const words = searchTokens(normalized);
  const params: unknown[] = [normalized, `${normalized}${PREFIX_END}`, `%${escapeLike(normalized)}%`, limit];
  // Words are letters and digits only: safe in a regular expression. \m: the start of a word.
  const wordPatterns =
    words.length > 1
      ? words.map((w) => {
          params.push(`\\m${w}`);
          return `$${params.length}`;
        })
      : [];
  // In scope: albums and tracks of its libraries, artists with albums there.
  const libraries = scopeParam(scope, params);
  const artistsIn =
    libraries === null
      ? 'true'
      : `EXISTS (SELECT 1 FROM library_artists la WHERE la.artist_id = ar.id AND ${inScope('la.library_id', libraries)})`;
  const sql = `SELECT
    (${jsonRows(ranked(artistSelect(libraries), 'ar', 'artists', false, ARTIST_ORDER, wordPatterns, artistsIn))}) AS artists,
    (${jsonRows(ranked(ALBUM_SELECT, 'al', 'albums', true, ALBUM_ORDER, wordPatterns, inScope('al.library_id', libraries)))}) AS albums,
    (${jsonRows(ranked(TRACK_SELECT, 't', 'tracks', true, TRACK_ORDER, wordPatterns, inScope('t.library_id', libraries)))}) AS tracks`;
  // Not a named statement: each search is planned for its own patterns (a rare trigram and a
  // common one want different plans).
  const { rows } = await db.query<SearchRow>(sql, params);
  const { artists, albums, tracks } = rows[0]!;
  return { artists: artists.map(toArtist), albums: albums.map(toAlbum), tracks: tracks.map(toTrack) };
}

/** Sorts after any text that starts with the prefix (byte order: text_pattern_ops). */
const PREFIX_END = String.fromCodePoint(0x10ffff);

interface SearchRow {
  artists: ArtistRow[];
  albums: AlbumRow[];
  tracks: TrackRow[];
}

/** The rows of a ranked SELECT as one JSON array, in rank order. */
function jsonRows(select: string): string {
  return `SELECT coalesce(json_agg(r ORDER BY r.rank), '[]'::json) FROM (${select}) r`;
}

/**
 * $1 normalised query, $2 the end of its prefix range, $3 its fragment pattern, $4 limit,
 * then one word-start regular expression per word (`wordPatterns`).
 */
function ranked(
  select: string,
  alias: string,
  table: string,
  hasContext: boolean,
  order: string,
  wordPatterns: string[],
  /** The scope's condition on the row. */
  visible: string,
): string {
  const name = `${alias}.search_name`;
  // The expression the trigram index of migration 004 holds.
  const text = hasContext ? `(${alias}.search_name || ' ' || ${alias}.search_context)` : name;
  const prefix = `(${name} ~>=~ $1 AND ${name} ~<~ $2)`;
  const from = `${table} ${alias}`;
  const tiers = [
    `SELECT ${alias}.id, 0 AS tier FROM ${from} WHERE ${name} = $1 AND ${visible} LIMIT $4`,
    `SELECT ${alias}.id, 1 FROM ${from} WHERE ${prefix} AND ${name} <> $1 AND ${visible} ORDER BY ${name} USING ~<~ LIMIT $4`,
  ];
  tiers.push(
    `SELECT ${alias}.id, 2 FROM ${from} WHERE ${name} LIKE $3 AND NOT ${prefix} AND ${visible} LIMIT $4`,
  );
  if (hasContext) {
    tiers.push(
      `SELECT ${alias}.id, 3 FROM ${from} WHERE ${text} LIKE $3 AND ${name} NOT LIKE $3 AND ${visible} LIMIT $4`,
    );
  }
  if (wordPatterns.length > 0) {
    const all = wordPatterns.map((p) => `${text} ~ ${p}`).join(' AND ');
    tiers.push(
      `SELECT ${alias}.id, 4 FROM ${from} WHERE ${all} AND ${text} NOT LIKE $3 AND ${visible} LIMIT $4`,
    );
  }
  const picked = `SELECT * FROM (${tiers.map((t) => `(${t})`).join(' UNION ALL ')}) tiers LIMIT $4`;
  const orderBy = `picked.tier, ${order}`;
  const withRank = select.replace(/^\s*SELECT\b/, `SELECT row_number() OVER (ORDER BY ${orderBy}) AS rank,`);
  return `${withRank} JOIN (${picked}) picked ON picked.id = ${alias}.id ORDER BY ${orderBy}`;
}
