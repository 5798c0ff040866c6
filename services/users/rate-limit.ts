import type { Queryable } from '../../common/db/pool.js';
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
    private readonly db: Queryable,
    private readonly limits: LoginLimits = DEFAULT_LOGIN_LIMITS,
  ) {}

  /** Counts one attempt; throws RateLimitedError when the username is over its limit. */
  async attempt(username: string): Promise<void> {
    const { rows } = await this.db.query<{ attempts: number; retry_ms: number }>(
      `INSERT INTO login_attempts AS a (username_key, attempts, window_start) VALUES (lower($1), 1, now())
       ON CONFLICT (username_key) DO UPDATE SET
         attempts = CASE WHEN a.window_start > now() - $2 * interval '1 millisecond' THEN a.attempts + 1 ELSE 1 END,
         window_start = CASE WHEN a.window_start > now() - $2 * interval '1 millisecond' THEN a.window_start ELSE now() END
       RETURNING attempts,
         (extract(epoch FROM (window_start + $2 * interval '1 millisecond' - now())) * 1000)::float8 AS retry_ms`,
      [username, this.limits.windowMs],
    );
    const row = rows[0]!;
    if (row.attempts === 1) {
      // A new window: a good moment to forget windows that are over, so the table stays small.
      await this.db.query(
        `DELETE FROM login_attempts WHERE window_start < now() - $1 * interval '1 millisecond'`,
        [this.limits.windowMs],
      );
    }
    if (row.attempts > this.limits.maxAttempts) {
      const retryAfterSeconds = Math.max(1, Math.ceil(row.retry_ms / 1000));
      throw new RateLimitedError(`too many login attempts; try again in ${retryAfterSeconds} s`, {
        retryAfterSeconds,
      });
    }
  }

  async succeeded(username: string): Promise<void> {
    await this.db.query('DELETE FROM login_attempts WHERE username_key = lower($1)', [username]);
  }
}
