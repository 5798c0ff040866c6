import { randomUUID } from 'node:crypto';
import type { ApiKey } from '../../common/contracts/index.js';
import type { Queryable } from '../../common/index.js';
import { apiKeyHash, newApiKey } from './password.js';

interface ApiKeyRow {
  id: string;
  name: string;
  created_at: Date;
  last_used_at: Date | null;
}

const toApiKey = (row: ApiKeyRow): ApiKey => ({
  id: row.id,
  name: row.name,
  createdAt: row.created_at.toISOString(),
  lastUsedAt: row.last_used_at?.toISOString() ?? null,
});

/** How stale `last_used_at` may get, so a busy client does not write a row on every request. */
const TOUCH_EVERY = '10 minutes';

export async function createApiKey(
  db: Queryable,
  userId: string,
  name: string,
): Promise<ApiKey & { key: string }> {
  const key = newApiKey();
  const { rows } = await db.query<ApiKeyRow>(
    `INSERT INTO api_keys (id, user_id, name, key_hash) VALUES ($1, $2, $3, $4)
     RETURNING id, name, created_at, last_used_at`,
    [randomUUID(), userId, name, apiKeyHash(key)],
  );
  return { ...toApiKey(rows[0]!), key };
}

export async function listApiKeys(db: Queryable, userId: string): Promise<ApiKey[]> {
  const { rows } = await db.query<ApiKeyRow>(
    'SELECT id, name, created_at, last_used_at FROM api_keys WHERE user_id = $1 ORDER BY created_at, id',
    [userId],
  );
  return rows.map(toApiKey);
}

/** True when the key existed and belonged to `userId`. */
export async function revokeApiKey(db: Queryable, userId: string, id: string): Promise<boolean> {
  const { rowCount } = await db.query('DELETE FROM api_keys WHERE id = $1 AND user_id = $2', [id, userId]);
  return rowCount === 1;
}

/**
 * The owner of `key`, or null for an unknown or revoked key or a disabled owner. Notes the
 * use now and then.
 */
export async function apiKeyOwner(
  db: Queryable,
  key: string,
): Promise<{ userId: string; username: string; admin: boolean } | null> {
  const { rows } = await db.query<{
    id: string;
    user_id: string;
    username: string;
    is_admin: boolean;
    stale: boolean;
  }>(
    `SELECT k.id, k.user_id, u.username, u.is_admin,
            (k.last_used_at IS NULL OR k.last_used_at < now() - interval '${TOUCH_EVERY}') AS stale
     FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.key_hash = $1 AND NOT u.disabled`,
    [apiKeyHash(key)],
  );
  const row = rows[0];
  if (!row) return null;
  if (row.stale) await db.query('UPDATE api_keys SET last_used_at = now() WHERE id = $1', [row.id]);
  return { userId: row.user_id, username: row.username, admin: row.is_admin };
}
