import { randomUUID } from 'node:crypto';
import { EventTypes, type UserRegistered } from '../../common/contracts/events.js';
import type { User } from '../../common/contracts/users.js';
import { enqueueEvent } from '../../common/db/outbox.js';
import { type Pool, type Queryable, withTransaction } from '../../common/db/pool.js';
import { hashPassword, type PasswordSealer } from './password.js';

interface UserRow {
  id: string;
  username: string;
  display_name: string;
  bio: string;
  password_hash: string;
  subsonic_secret: string | null;
  created_at: Date;
}

export interface StoredUser {
  user: User;
  passwordHash: string;
  /** The sealed password for Subsonic token auth (password.ts), null until it is next given. */
  subsonicSecret: string | null;
}

const COLUMNS = 'id, username, display_name, bio, password_hash, subsonic_secret, created_at';

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
  };
}

/**
 * Creates a user and records `user.registered` in the outbox in the same transaction.
 * With `sealer` the password is also kept sealed for Subsonic token auth; `hash` makes the
 * password's hash (the users service runs it through its bounded hash queue).
 * Returns null when the username is taken (in any letter case).
 */
export async function createUser(
  pool: Pool,
  username: string,
  password: string,
  sealer?: PasswordSealer,
  hash: (password: string) => Promise<string> = hashPassword,
): Promise<User | null> {
  const id = randomUUID();
  const passwordHash = await hash(password);
  const secret = sealer ? sealer.seal(password, id) : null;
  return withTransaction(pool, async (client) => {
    const { rows } = await client.query<UserRow>(
      `INSERT INTO users (id, username, display_name, password_hash, subsonic_secret) VALUES ($1, $2, $2, $3, $4)
       ON CONFLICT ((lower(username))) DO NOTHING
       RETURNING ${COLUMNS}`,
      [id, username, passwordHash, secret],
    );
    const row = rows[0];
    if (!row) return null;
    await enqueueEvent<UserRegistered>(client, EventTypes.USER_REGISTERED, {
      userId: row.id,
      username: row.username,
    });
    return toStored(row).user;
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
