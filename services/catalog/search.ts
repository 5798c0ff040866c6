import type { SearchResult } from '../../common/contracts/catalog.js';
import type { Queryable } from '../../common/index.js';
import {
  ALBUM_ORDER,
  ALBUM_SELECT,
  ARTIST_ORDER,
  ARTIST_SELECT,
  queryAlbums,
  queryArtists,
  queryTracks,
  TRACK_ORDER,
  TRACK_SELECT,
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
  const [artists, albums, tracks] = await Promise.all([
    queryArtists(db, ranked(ARTIST_SELECT, 'ar', false, ARTIST_ORDER), params),
    queryAlbums(db, ranked(ALBUM_SELECT, 'al', true, ALBUM_ORDER), params),
    queryTracks(db, ranked(TRACK_SELECT, 't', true, TRACK_ORDER), params),
  ]);
  return { artists, albums, tracks };
}

/**
 * $1 tsquery text (or null), $2 normalised query, $3 prefix pattern, $4 substring pattern, $5 limit.
 *
 * Written so that PostgreSQL's generic plan for the prepared statement is as cheap as a custom
 * one, and it stops planning the statement on every call (three statements per search): the
 * tsquery is built once as a FROM item rather than per row, and LIKE uses its default escape
 * character (the backslash escapeLike puts in) instead of an ESCAPE clause, which a generic
 * plan would evaluate per row too.
 */
function ranked(select: string, alias: string, hasContext: boolean, order: string): string {
  const haystack = hasContext
    ? `${alias}.search_name || ' ' || ${alias}.search_context`
    : `${alias}.search_name`;
  return `${select}
    CROSS JOIN to_tsquery('simple', $1::text) AS q
    WHERE ${alias}.search_vector @@ q OR ${haystack} LIKE $4
    ORDER BY
      CASE WHEN ${alias}.search_name = $2 THEN 2 WHEN ${alias}.search_name LIKE $3 THEN 1 ELSE 0 END DESC,
      coalesce(ts_rank(${alias}.search_vector, q), 0) DESC,
      ${order}
    LIMIT $5`;
}
