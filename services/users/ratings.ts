import type { Rating, Ratings, SongMarks } from '../../common/contracts/index.js';
import type { Queryable } from '../../common/index.js';
import { byKind, type StarKind } from './stars.js';

/** Rates an item from 1 to 5 (a new rating replaces the old one); 0 removes the rating. */
export async function setRating(
  db: Queryable,
  userId: string,
  kind: StarKind,
  itemId: string,
  rating: number,
): Promise<void> {
  if (rating === 0) {
    await db.query('DELETE FROM ratings WHERE user_id = $1 AND kind = $2 AND item_id = $3', [
      userId,
      kind,
      itemId,
    ]);
    return;
  }
  await db.query(
    `INSERT INTO ratings (user_id, kind, item_id, rating) VALUES ($1, $2, $3, $4)
     ON CONFLICT (user_id, kind, item_id) DO UPDATE SET rating = excluded.rating, rated_at = now()`,
    [userId, kind, itemId, rating],
  );
}

/** The user's ratings, highest first, then the most recently rated. */
export async function listRatings(db: Queryable, userId: string): Promise<Ratings> {
  const { rows } = await db.query<{ kind: StarKind; item_id: string; rating: number; rated_at: Date }>(
    `SELECT kind, item_id, rating, rated_at FROM ratings WHERE user_id = $1
     ORDER BY rating DESC, rated_at DESC, item_id`,
    [userId],
  );
  return byKind(
    rows,
    (r): Rating => ({ id: r.item_id, rating: r.rating, ratedAt: r.rated_at.toISOString() }),
  );
}

/** A user's song ratings and starred songs, the most recent `max` of each (smart playlists' rules). */
export async function songMarks(db: Queryable, userId: string, max: number): Promise<SongMarks> {
  const [ratings, stars] = await Promise.all([
    db.query<{ item_id: string; rating: number }>(
      `SELECT item_id, rating FROM ratings WHERE user_id = $1 AND kind = 'song'
       ORDER BY rated_at DESC, item_id LIMIT $2`,
      [userId, max],
    ),
    db.query<{ item_id: string }>(
      `SELECT item_id FROM stars WHERE user_id = $1 AND kind = 'song'
       ORDER BY starred_at DESC, item_id LIMIT $2`,
      [userId, max],
    ),
  ]);
  return {
    ratings: ratings.rows.map((r) => ({ trackId: r.item_id, rating: r.rating })),
    starred: stars.rows.map((r) => r.item_id),
  };
}
