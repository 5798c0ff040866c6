import { type Pool, type Queryable, withTransaction } from '../../common/db/pool.js';
import { RateLimitedError } from '../../common/errors.js';

export interface LoginLimits {
  /** Attempts allowed per username in one window without a successful login. */
  maxAttempts: number;
  windowMs: number;
}

export const DEFAULT_LOGIN_LIMITS: LoginLimits = { maxAttempts: 5, windowMs: 60_000 };

/**
 * Limits password guesses per username. The count lives in the database so it holds across
 * every worker, and an attempt is counted before the password is checked, so concurrent
 * guesses cannot slip past the limit. A successful login clears the count.
 * Unknown usernames are limited the same way, so the limit does not tell who exists.
 */
export class LoginLimiter {
  constructor(
    private readonly db: Pool,
    private readonly limits: LoginLimits = DEFAULT_LOGIN_LIMITS,
  ) {}

  /** Counts one attempt; throws RateLimitedError when the username is over its limit. */
  async attempt(username: string): Promise<void> {
    const row = await count(this.db, username, this.limits.windowMs, 1);
    if (row.attempts === 1) {
      // A new window: a good moment to forget windows that are over, so the table stays small.
      await this.db.query(
        `DELETE FROM login_attempts WHERE window_start < now() - $1 * interval '1 millisecond'`,
        [this.limits.windowMs],
      );
    }
    if (row.attempts > this.limits.maxAttempts) limited(row.retry_ms);
  }

  /**
   * Runs one credential check for `username` under the same limit, for clients that
   * authenticate every request and send many at once (Subsonic players). Only failures count,
   * so a client's concurrent good requests are never refused; the username's counter row stays
   * locked during the check, so concurrent guesses are counted one after another and none
   * slips past the limit. Throws RateLimitedError when over it; a success clears the count.
   * `check` gets the transaction's connection: waiting for a second one from the pool while
   * holding the first could exhaust it.
   */
  guard(username: string, check: (db: Queryable) => Promise<boolean>): Promise<boolean> {
    return withTransaction(this.db, async (client) => {
      // Adding 0 only opens a new window when the last one is over, and locks the row.
      const row = await count(client, username, this.limits.windowMs, 0);
      if (row.attempts >= this.limits.maxAttempts) limited(row.retry_ms);
      const ok = await check(client);
      await client.query(
        ok
          ? 'DELETE FROM login_attempts WHERE username_key = lower($1)'
          : 'UPDATE login_attempts SET attempts = attempts + 1 WHERE username_key = lower($1)',
        [username],
      );
      return ok;
    });
  }

  async succeeded(username: string): Promise<void> {
    await this.db.query('DELETE FROM login_attempts WHERE username_key = lower($1)', [username]);
  }
}

/** Adds `increment` to the username's count in the current window (starting a new one when it is over). */
async function count(
  db: Queryable,
  username: string,
  windowMs: number,
  increment: number,
): Promise<{ attempts: number; retry_ms: number }> {
  const { rows } = await db.query<{ attempts: number; retry_ms: number }>(
    `INSERT INTO login_attempts AS a (username_key, attempts, window_start) VALUES (lower($1), $3, now())
     ON CONFLICT (username_key) DO UPDATE SET
       attempts = CASE WHEN a.window_start > now() - $2 * interval '1 millisecond' THEN a.attempts + $3 ELSE $3 END,
       window_start = CASE WHEN a.window_start > now() - $2 * interval '1 millisecond' THEN a.window_start ELSE now() END
     RETURNING attempts,
       (extract(epoch FROM (window_start + $2 * interval '1 millisecond' - now())) * 1000)::float8 AS retry_ms`,
    [username, windowMs, increment],
  );
  return rows[0]!;
}

function limited(retryMs: number): never {
  const retryAfterSeconds = Math.max(1, Math.ceil(retryMs / 1000));
  throw new RateLimitedError(`too many login attempts; try again in ${retryAfterSeconds} s`, {
    retryAfterSeconds,
  });
}
