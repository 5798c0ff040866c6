import type { Star, Starred } from '../../common/contracts/index.js';
import type { Queryable } from '../../common/index.js';

export type StarKind = 'song' | 'album' | 'artist';

export interface StarIds {
  songIds: string[];
  albumIds: string[];
  artistIds: string[];
}

/** The (kind, id) pairs of a request, as two parallel arrays for `unnest`. */
function pairs(ids: StarIds): [StarKind[], string[]] {
  const all: Array<[StarKind, string]> = [
    ...ids.songIds.map((id): [StarKind, string] => ['song', id]),
    ...ids.albumIds.map((id): [StarKind, string] => ['album', id]),
    ...ids.artistIds.map((id): [StarKind, string] => ['artist', id]),
  ];
  return [all.map(([kind]) => kind), all.map(([, id]) => id)];
}

/** Stars the items not starred yet (starring twice keeps the first time); returns how many are new. */
export async function addStars(db: Queryable, userId: string, ids: StarIds): Promise<number> {
  const [kinds, itemIds] = pairs(ids);
  if (kinds.length === 0) return 0;
  const { rowCount } = await db.query(
    `INSERT INTO stars (user_id, kind, item_id)
     SELECT $1, kind, item_id FROM unnest($2::text[], $3::text[]) AS s (kind, item_id)
     ON CONFLICT DO NOTHING`,
    [userId, kinds, itemIds],
  );
  return rowCount ?? 0;
}

export async function removeStars(db: Queryable, userId: string, ids: StarIds): Promise<number> {
  const [kinds, itemIds] = pairs(ids);
  if (kinds.length === 0) return 0;
  const { rowCount } = await db.query(
    `DELETE FROM stars WHERE user_id = $1
     AND (kind, item_id) IN (SELECT * FROM unnest($2::text[], $3::text[]))`,
    [userId, kinds, itemIds],
  );
  return rowCount ?? 0;
}

/** Rows of a (kind, item) table split by kind, each list in the rows' order. */
export function byKind<R extends { kind: StarKind }, T>(
  rows: readonly R[],
  toItem: (row: R) => T,
): { songs: T[]; albums: T[]; artists: T[] } {
  const of = (kind: StarKind) => rows.filter((r) => r.kind === kind).map(toItem);
  return { songs: of('song'), albums: of('album'), artists: of('artist') };
}

export async function listStars(db: Queryable, userId: string): Promise<Starred> {
  const { rows } = await db.query<{ kind: StarKind; item_id: string; starred_at: Date }>(
    'SELECT kind, item_id, starred_at FROM stars WHERE user_id = $1 ORDER BY starred_at DESC, item_id',
    [userId],
  );
  return byKind(rows, (r): Star => ({ id: r.item_id, starredAt: r.starred_at.toISOString() }));
}
