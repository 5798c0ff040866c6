import { randomBytes } from 'node:crypto';
import { prepared, type Queryable } from '../../common/index.js';

/** A new session id: 128 random bits. */
export function newSessionId(): string {
  return randomBytes(16).toString('base64url');
}

export async function createSession(
  db: Queryable,
  id: string,
  userId: string,
  expiresAt: Date,
): Promise<void> {
  await db.query('INSERT INTO sessions (id, user_id, expires_at) VALUES ($1, $2, $3)', [
    id,
    userId,
    expiresAt,
  ]);
}

/** The user of an open session (not revoked, not expired, its account not disabled), or null. */
export async function openSession(
  db: Queryable,
  sessionId: string,
  userId: string,
): Promise<{ userId: string; username: string; admin: boolean } | null> {
  const { rows } = await db.query<{ id: string; username: string; is_admin: boolean }>(
    prepared(
      `SELECT u.id, u.username, u.is_admin FROM sessions s JOIN users u ON u.id = s.user_id
       WHERE s.id = $1 AND s.user_id = $2 AND s.revoked_at IS NULL AND s.expires_at > now()
         AND NOT u.disabled`,
      [sessionId, userId],
    ),
  );
  const row = rows[0];
  return row ? { userId: row.id, username: row.username, admin: row.is_admin } : null;
}

/** Ends one session of the user; how many were ended (0 or 1). */
export async function revokeSession(db: Queryable, userId: string, sessionId: string): Promise<number> {
  const { rowCount } = await db.query(
    'UPDATE sessions SET revoked_at = now() WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL',
    [sessionId, userId],
  );
  return rowCount ?? 0;
}

/** Ends every open session of the user but `keep`; how many were ended. */
export async function revokeSessions(db: Queryable, userId: string, keep?: string): Promise<number> {
  const { rowCount } = await db.query(
    `UPDATE sessions SET revoked_at = now()
     WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > now() AND id IS DISTINCT FROM $2`,
    [userId, keep ?? null],
  );
  return rowCount ?? 0;
}

/** Forgets sessions that expired more than a day ago. */
export async function pruneSessions(db: Queryable): Promise<number> {
  const { rowCount } = await db.query(`DELETE FROM sessions WHERE expires_at < now() - interval '1 day'`);
  return rowCount ?? 0;
}
