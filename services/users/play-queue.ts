import type { PlayQueue } from '../../common/contracts/index.js';
import type { Queryable } from '../../common/index.js';

interface QueueRow {
  track_ids: string[];
  current_index: number;
  position_ms: number;
  changed_at: Date;
  changed_by: string;
}

const toQueue = (r: QueueRow): PlayQueue => ({
  trackIds: r.track_ids,
  currentIndex: r.current_index,
  positionMs: r.position_ms,
  changedAt: r.changed_at.toISOString(),
  changedBy: r.changed_by,
});

/** Replaces the user's play queue; an empty one is removed. Returns what is now saved. */
export async function savePlayQueue(
  db: Queryable,
  userId: string,
  queue: { trackIds: string[]; currentIndex?: number | undefined; positionMs: number; client: string },
): Promise<PlayQueue | null> {
  if (queue.trackIds.length === 0) {
    await db.query('DELETE FROM play_queues WHERE user_id = $1', [userId]);
    return null;
  }
  const { rows } = await db.query<QueueRow>(
    `INSERT INTO play_queues (user_id, track_ids, current_index, position_ms, changed_by)
     VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (user_id) DO UPDATE SET track_ids = excluded.track_ids,
       current_index = excluded.current_index, position_ms = excluded.position_ms,
       changed_by = excluded.changed_by, changed_at = now()
     RETURNING track_ids, current_index, position_ms, changed_at, changed_by`,
    [userId, queue.trackIds, queue.currentIndex ?? 0, queue.positionMs, queue.client],
  );
  return toQueue(rows[0]!);
}

export async function loadPlayQueue(db: Queryable, userId: string): Promise<PlayQueue | null> {
  const { rows } = await db.query<QueueRow>(
    `SELECT track_ids, current_index, position_ms, changed_at, changed_by FROM play_queues
     WHERE user_id = $1`,
    [userId],
  );
  return rows[0] ? toQueue(rows[0]) : null;
}
