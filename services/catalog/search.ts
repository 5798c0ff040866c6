import type { SearchResult } from '../../common/contracts/catalog.js';
import { prepared, type Queryable } from '../../common/index.js';
import {
  ALBUM_ORDER,
  ALBUM_SELECT,
  type AlbumRow,
  ARTIST_ORDER,
  ARTIST_SELECT,
  type ArtistRow,
  TRACK_ORDER,
  TRACK_SELECT,
  type TrackRow,
  toAlbum,
  toArtist,
  toTrack,
} from './queries.js';
import { escapeLike, normalizeText, prefixQuery, searchTokens } from './text.js';

/**
 * Case- and accent-insensitive search over artists, albums and tracks.
 *
 * A row matches when every word of the query starts a word of it (full-text prefix match on
 * the normalised text), or when the query appears anywhere in it literally (so "%", "ac/dc"
 * or a fragment inside a word still find something). Ranking: the whole name equal to the
 * query, then the name starting with it, then full-text rank, where a title counts more than
 * the album or artist it belongs to.
 */
export async function search(db: Queryable, q: string, limit: number): Promise<SearchResult> {
  const normalized = normalizeText(q);
  const params = [
    prefixQuery(searchTokens(normalized)),
    normalized,
    `${escapeLike(normalized)}%`,
    `%${escapeLike(normalized)}%`,
    limit,
  ];
  const { rows } = await db.query<SearchRow>(prepared(SEARCH, params));
  const { artists, albums, tracks } = rows[0]!;
  return { artists: artists.map(toArtist), albums: albums.map(toAlbum), tracks: tracks.map(toTrack) };
}

interface SearchRow {
  artists: ArtistRow[];
  albums: AlbumRow[];
  tracks: TrackRow[];
}

/**
 * The three rankings in one statement, each as a JSON array of rows in rank order: one round
 * trip and one pooled connection per search instead of three of each.
 */
const SEARCH = `SELECT
  (${jsonRows(ranked(ARTIST_SELECT, 'ar', false, ARTIST_ORDER))}) AS artists,
  (${jsonRows(ranked(ALBUM_SELECT, 'al', true, ALBUM_ORDER))}) AS albums,
  (${jsonRows(ranked(TRACK_SELECT, 't', true, TRACK_ORDER))}) AS tracks`;

/** The rows of a ranked SELECT as one JSON array, in rank order. */
function jsonRows(select: string): string {
  return `SELECT coalesce(json_agg(r ORDER BY r.rank), '[]'::json) FROM (${select}) r`;
}

/**
 * $1 tsquery text (or null), $2 normalised query, $3 prefix pattern, $4 substring pattern, $5 limit.
 *
 * Written so that PostgreSQL's generic plan for the prepared statement is as cheap as a custom
 * one, and it stops planning the statement on every call: the tsquery is built once as a
 * FROM item rather than per row, and LIKE uses its default escape character (the backslash
 * escapeLike puts in) instead of an ESCAPE clause, which a generic plan would evaluate per
 * row too.
 */
function ranked(select: string, alias: string, hasContext: boolean, order: string): string {
  const haystack = hasContext
    ? `${alias}.search_name || ' ' || ${alias}.search_context`
    : `${alias}.search_name`;
  const orderBy = `
      CASE WHEN ${alias}.search_name = $2 THEN 2 WHEN ${alias}.search_name LIKE $3 THEN 1 ELSE 0 END DESC,
      coalesce(ts_rank(${alias}.search_vector, q), 0) DESC,
      ${order}`;
  // The row's place as a column too, which the JSON array is ordered by (one sort does both).
  const withRank = select.replace(/^\s*SELECT\b/, `SELECT row_number() OVER (ORDER BY ${orderBy}) AS rank,`);
  return `${withRank}
    CROSS JOIN to_tsquery('simple', $1::text) AS q
    WHERE ${alias}.search_vector @@ q OR ${haystack} LIKE $4
    ORDER BY ${orderBy}
    LIMIT $5`;
}
