import { randomUUID } from 'node:crypto';
import { type Account, Events, type User } from '../../common/contracts/index.js';
import { enqueueEvent, type Pool, type Queryable, withTransaction } from '../../common/index.js';
import { hashPassword, type PasswordSealer } from './password.js';

interface UserRow {
  id: string;
  username: string;
  display_name: string;
  bio: string;
  password_hash: string;
  subsonic_secret: string | null;
  is_admin: boolean;
  disabled: boolean;
  created_at: Date;
}

export interface StoredUser {
  user: User;
  passwordHash: string;
  /** The sealed password for Subsonic token auth (password.ts), null until it is next given. */
  subsonicSecret: string | null;
  admin: boolean;
  /** A disabled account cannot log in, and none of its credentials work. */
  disabled: boolean;
}

const COLUMNS =
  'id, username, display_name, bio, password_hash, subsonic_secret, is_admin, disabled, created_at';

function toStored(row: UserRow): StoredUser {
  return {
    user: {
      id: row.id,
      username: row.username,
      displayName: row.display_name,
      bio: row.bio,
      createdAt: row.created_at.toISOString(),
    },
    passwordHash: row.password_hash,
    subsonicSecret: row.subsonic_secret,
    admin: row.is_admin,
    disabled: row.disabled,
  };
}

/** The user as administrators see them (and as `me` shows the caller). */
export function accountOf(stored: StoredUser): Account {
  return { ...stored.user, admin: stored.admin, disabled: stored.disabled };
}

/**
 * Serializes every change of who is an administrator (the first account, promotions,
 * demotions, disabling and deleting), so two of them cannot both see "another admin is left"
 * or "nobody is here yet". Held until the transaction ends.
 */
export async function lockRoles(db: Queryable): Promise<void> {
  await db.query(`SELECT pg_advisory_xact_lock(hashtext('users.roles'))`);
}

/**
 * Whether a new account is an administrator: `first` (registrations) makes the first account
 * of a fresh install one, and nobody else; `admin` and `user` say it outright.
 */
export type NewRole = 'first' | 'admin' | 'user';

/**
 * Creates a user and records `user.registered` in the outbox in the same transaction.
 * With `sealer` the password is also kept sealed for Subsonic token auth; `hash` makes the
 * password's hash (the users service runs it through its bounded hash queue). With role
 * `first` the account is an administrator when it is the first one: while the table is empty
 * the insert waits for the roles lock and looks again, so of two first registrations at once
 * exactly one is the administrator (once any account exists, nobody waits).
 * Returns null when the username is taken (in any letter case).
 */
export async function createUser(
  pool: Pool,
  username: string,
  password: string,
  sealer?: PasswordSealer,
  hash: (password: string) => Promise<string> = hashPassword,
  role: NewRole = 'first',
): Promise<Account | null> {
  const id = randomUUID();
  const passwordHash = await hash(password);
  const secret = sealer ? sealer.seal(password, id) : null;
  return withTransaction(pool, async (client) => {
    let admin = role === 'admin';
    if (role === 'first') {
      const empty = async () => (await client.query('SELECT 1 FROM users LIMIT 1')).rowCount === 0;
      if (await empty()) {
        await lockRoles(client);
        admin = await empty();
      }
    }
    const { rows } = await client.query<UserRow>(
      `INSERT INTO users (id, username, display_name, password_hash, subsonic_secret, is_admin)
       VALUES ($1, $2, $2, $3, $4, $5)
       ON CONFLICT ((lower(username))) DO NOTHING
       RETURNING ${COLUMNS}`,
      [id, username, passwordHash, secret, admin],
    );
    const row = rows[0];
    if (!row) return null;
    await enqueueEvent(client, Events.userRegistered, {
      userId: row.id,
      username: row.username,
    });
    return accountOf(toStored(row));
  });
}

export async function findById(db: Queryable, id: string): Promise<StoredUser | null> {
  const { rows } = await db.query<UserRow>(`SELECT ${COLUMNS} FROM users WHERE id = $1`, [id]);
  return rows[0] ? toStored(rows[0]) : null;
}

export async function findByUsername(db: Queryable, username: string): Promise<StoredUser | null> {
  const { rows } = await db.query<UserRow>(`SELECT ${COLUMNS} FROM users WHERE lower(username) = lower($1)`, [
    username,
  ]);
  return rows[0] ? toStored(rows[0]) : null;
}

/** Changes the given profile fields; null when the user no longer exists. */
export async function updateProfile(
  db: Queryable,
  id: string,
  changes: { displayName?: string | undefined; bio?: string | undefined },
): Promise<User | null> {
  const { rows } = await db.query<UserRow>(
    `UPDATE users SET display_name = coalesce($2, display_name), bio = coalesce($3, bio), updated_at = now()
     WHERE id = $1 RETURNING ${COLUMNS}`,
    [id, changes.displayName ?? null, changes.bio ?? null],
  );
  return rows[0] ? toStored(rows[0]).user : null;
}

export async function setSubsonicSecret(db: Queryable, id: string, secret: string): Promise<void> {
  await db.query('UPDATE users SET subsonic_secret = $2 WHERE id = $1', [id, secret]);
}

/** Sets a new password (its hash and its sealed copy); false when the user no longer exists. */
export async function setPassword(
  db: Queryable,
  id: string,
  passwordHash: string,
  secret: string,
): Promise<boolean> {
  const { rowCount } = await db.query(
    'UPDATE users SET password_hash = $2, subsonic_secret = $3, updated_at = now() WHERE id = $1',
    [id, passwordHash, secret],
  );
  return rowCount === 1;
}

/**
 * Makes the account named `username` an administrator, and enables it (`npm run admin`, for
 * an install whose users were made before roles existed, or one that lost its admin's
 * password). Null when there is no such account.
 */
export async function grantAdmin(db: Queryable, username: string): Promise<Account | null> {
  const { rows } = await db.query<UserRow>(
    `UPDATE users SET is_admin = true, disabled = false, updated_at = now()
     WHERE lower(username) = lower($1) RETURNING ${COLUMNS}`,
    [username],
  );
  return rows[0] ? accountOf(toStored(rows[0])) : null;
}

/** One page of every account, oldest first; `query` matches username or display name. */
export async function listAccounts(
  db: Queryable,
  { limit, offset, query }: { limit: number; offset: number; query?: string | undefined },
): Promise<{ items: Account[]; total: number }> {
  const pattern = query ? `%${query.replace(/[\\%_]/g, '\\$&')}%` : null;
  const where = `$1::text IS NULL OR username ILIKE $1 OR display_name ILIKE $1`;
  const [page, count] = await Promise.all([
    db.query<UserRow>(
      `SELECT ${COLUMNS} FROM users WHERE ${where} ORDER BY created_at, id LIMIT $2 OFFSET $3`,
      [pattern, limit, offset],
    ),
    db.query<{ n: number }>(`SELECT count(*)::int AS n FROM users WHERE ${where}`, [pattern]),
  ]);
  return { items: page.rows.map((row) => accountOf(toStored(row))), total: count.rows[0]!.n };
}

/** How many enabled administrators there are (call it under `lockRoles`). */
export async function countAdmins(db: Queryable): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM users WHERE is_admin AND NOT disabled',
  );
  return rows[0]!.n;
}

/**
 * The enabled account `userId`, or else the first enabled administrator (the one made first):
 * who owns a library's playlist files.
 */
export async function playlistOwner(
  db: Queryable,
  userId: string | undefined,
): Promise<{ userId: string; username: string } | null> {
  const { rows } = await db.query<{ id: string; username: string }>(
    `(SELECT id, username FROM users WHERE id = $1 AND NOT disabled)
     UNION ALL
     (SELECT id, username FROM users WHERE is_admin AND NOT disabled ORDER BY created_at, id LIMIT 1)
     LIMIT 1`,
    [userId ?? null],
  );
  const row = rows[0];
  return row ? { userId: row.id, username: row.username } : null;
}

/** Changes an account's display name, role and disabled flag; null when it no longer exists. */
export async function updateAccount(
  db: Queryable,
  id: string,
  changes: { displayName?: string | undefined; admin?: boolean | undefined; disabled?: boolean | undefined },
): Promise<Account | null> {
  const { rows } = await db.query<UserRow>(
    `UPDATE users SET display_name = coalesce($2, display_name), is_admin = coalesce($3, is_admin),
            disabled = coalesce($4, disabled), updated_at = now()
     WHERE id = $1 RETURNING ${COLUMNS}`,
    [id, changes.displayName ?? null, changes.admin ?? null, changes.disabled ?? null],
  );
  return rows[0] ? accountOf(toStored(rows[0])) : null;
}

/** Deletes an account and (by cascade) everything of it in this service; false when there was none. */
export async function deleteAccount(db: Queryable, id: string): Promise<boolean> {
  const { rowCount } = await db.query('DELETE FROM users WHERE id = $1', [id]);
  return rowCount === 1;
}
