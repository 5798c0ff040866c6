import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { ShareKind } from '../../common/contracts/index.js';
import type { Queryable } from '../../common/index.js';

export interface ShareRow {
  id: string;
  token: string;
  owner_id: string;
  owner_name: string;
  kind: ShareKind;
  item_id: string;
  description: string;
  downloadable: boolean;
  expires_at: Date | null;
  created_at: Date;
  last_visited_at: Date | null;
  visit_count: number;
}

/** 32 random bytes: 256 bits, far past guessing. */
export const newShareToken = () => randomBytes(32).toString('base64url');
const tokenHash = (token: string) => createHash('sha256').update(token).digest();

const COLUMNS = `id, token, owner_id, owner_name, kind, item_id, description, downloadable,
  expires_at, created_at, last_visited_at, visit_count`;

export async function insertShare(
  db: Queryable,
  fields: {
    ownerId: string;
    ownerName: string;
    kind: ShareKind;
    itemId: string;
    description: string;
    downloadable: boolean;
    expiresAt: string | null;
  },
): Promise<ShareRow> {
  const token = newShareToken();
  const { rows } = await db.query<ShareRow>(
    `INSERT INTO shares (id, token_hash, token, owner_id, owner_name, kind, item_id, playlist_id,
       description, downloadable, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, CASE WHEN $6 = 'playlist' THEN $7 END, $8, $9, $10)
     RETURNING ${COLUMNS}`,
    [
      randomUUID(),
      tokenHash(token),
      token,
      fields.ownerId,
      fields.ownerName,
      fields.kind,
      fields.itemId,
      fields.description,
      fields.downloadable,
      fields.expiresAt,
    ],
  );
  return rows[0]!;
}

export async function countShares(db: Queryable, ownerId: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM shares WHERE owner_id = $1',
    [ownerId],
  );
  return rows[0]!.n;
}

export async function listShares(db: Queryable, ownerId: string, limit: number): Promise<ShareRow[]> {
  const { rows } = await db.query<ShareRow>(
    `SELECT ${COLUMNS} FROM shares WHERE owner_id = $1 ORDER BY created_at DESC, id LIMIT $2`,
    [ownerId, limit],
  );
  return rows;
}

/**
 * The share a link's token opens, if it is live (not expired, not deleted): looked up by the
 * token's hash. With `visit`, the opening is counted in the same statement.
 */
export async function findLiveShare(db: Queryable, token: string, visit = false): Promise<ShareRow | null> {
  const hash = tokenHash(token);
  const { rows } = visit
    ? await db.query<ShareRow>(
        `UPDATE shares SET visit_count = visit_count + 1, last_visited_at = now()
         WHERE token_hash = $1 AND (expires_at IS NULL OR expires_at > now()) RETURNING ${COLUMNS}`,
        [hash],
      )
    : await db.query<ShareRow>(
        `SELECT ${COLUMNS} FROM shares WHERE token_hash = $1 AND (expires_at IS NULL OR expires_at > now())`,
        [hash],
      );
  return rows[0] ?? null;
}

export async function updateShare(
  db: Queryable,
  id: string,
  ownerId: string,
  fields: {
    description?: string | undefined;
    expiresAt?: string | null | undefined;
    downloadable?: boolean | undefined;
  },
): Promise<ShareRow | null> {
  const { rows } = await db.query<ShareRow>(
    `UPDATE shares SET description = coalesce($3, description),
       expires_at = CASE WHEN $4 THEN $5::timestamptz ELSE expires_at END,
       downloadable = coalesce($6, downloadable)
     WHERE id = $1 AND owner_id = $2 RETURNING ${COLUMNS}`,
    [
      id,
      ownerId,
      fields.description ?? null,
      fields.expiresAt !== undefined,
      fields.expiresAt ?? null,
      fields.downloadable ?? null,
    ],
  );
  return rows[0] ?? null;
}

export async function deleteShare(db: Queryable, id: string, ownerId: string): Promise<boolean> {
  const { rowCount } = await db.query('DELETE FROM shares WHERE id = $1 AND owner_id = $2', [id, ownerId]);
  return (rowCount ?? 0) > 0;
}

/** Whether playlist `playlistId` holds `trackId` at any position. */
export async function playlistHolds(db: Queryable, playlistId: string, trackId: string): Promise<boolean> {
  const { rows } = await db.query(
    'SELECT 1 FROM playlist_tracks WHERE playlist_id = $1 AND track_id = $2 LIMIT 1',
    [playlistId, trackId],
  );
  return rows.length > 0;
}
