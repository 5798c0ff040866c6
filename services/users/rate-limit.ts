import { type Pool, type Queryable, RateLimitedError, withTransaction } from '../../common/index.js';

/** How one kind of key is throttled: free failures, then waits that double up to a ceiling. */
export interface ThrottleRule {
  /** Failures allowed before any wait. */
  free: number;
  /** The first wait, in ms; each further failure doubles it. */
  firstWaitMs: number;
  maxWaitMs: number;
}

/**
 * Who is guessing is told apart by client address: a guesser is slowed down on its own
 * address and on (username, address). The per-username rule counts failures from every
 * address, and once past its free ones makes each address that has failed for that username
 * wait too, never one that has not: the real user, from a client that has not failed, is
 * always checked, however many addresses guess (docs/SECURITY.md).
 */
export interface LoginLimits {
  pair: ThrottleRule;
  address: ThrottleRule;
  username: ThrottleRule;
  /** Failures are forgotten after this long without one. */
  forgetAfterMs: number;
}

const MINUTE = 60_000;

export const DEFAULT_LOGIN_LIMITS: LoginLimits = {
  pair: { free: 5, firstWaitMs: 1000, maxWaitMs: 15 * MINUTE },
  address: { free: 20, firstWaitMs: 1000, maxWaitMs: 15 * MINUTE },
  username: { free: 100, firstWaitMs: 1000, maxWaitMs: 15 * MINUTE },
  forgetAfterMs: 15 * MINUTE,
};

type Scope = keyof Omit<LoginLimits, 'forgetAfterMs'>;

/** The wait after `failures` failures under `rule`, in ms (0 while they are free). */
export function waitAfter(rule: ThrottleRule, failures: number): number {
  if (failures < rule.free) return 0;
  return Math.min(rule.maxWaitMs, rule.firstWaitMs * 2 ** Math.min(30, failures - rule.free));
}

/**
 * Throttles credential checks (logins, password changes, Subsonic credentials). The counts
 * live in the database so they hold across every worker. A check runs with the rows of its
 * keys locked, so concurrent guesses are counted one after another and none slips past;
 * only failures count, so a player's burst of good requests is never refused, and a success
 * clears the (username, address) count.
 */
export class LoginLimiter {
  constructor(
    private readonly db: Pool,
    private readonly limits: LoginLimits = DEFAULT_LOGIN_LIMITS,
  ) {}

  /**
   * Runs `check` for `username` from `address` (undefined for services that name none) unless
   * one of its keys is waiting, which is a RateLimitedError saying how long. `check` gets the
   * transaction's connection: waiting for a second one from the pool while holding the first
   * could exhaust it.
   */
  guard(
    username: string,
    address: string | undefined,
    check: (db: Queryable) => Promise<boolean>,
  ): Promise<boolean> {
    const user = username.toLowerCase();
    // Locked in this order (by scope) by every attempt, so concurrent attempts cannot deadlock.
    // A caller that names no address (another service) is counted per username only: one
    // shared "unknown address" would let one guesser slow down every such caller.
    const keys: Array<[Scope, string]> = address
      ? [
          ['address', address],
          ['pair', `${user}\n${address}`],
          ['username', user],
        ]
      : [
          ['pair', `${user}\n`],
          ['username', user],
        ];
    const pair = keys.find(([scope]) => scope === 'pair')![1];
    return withTransaction(this.db, async (client) => {
      const rows = await lock(client, keys, this.limits.forgetAfterMs);
      // The username's wait holds back only clients that have failed for it themselves: a
      // client with no failure for this username is always checked, so guesses from many
      // addresses never keep the real user out.
      const pairFailures = rows.find((r) => r.scope === 'pair')?.failures ?? 0;
      const binding = rows.filter((r) => r.scope !== 'username' || pairFailures > 0);
      const waitMs = Math.max(0, ...binding.map((r) => r.wait_ms));
      if (waitMs > 0) {
        const blocked = binding.find((r) => r.wait_ms === waitMs)!.scope;
        limited(waitMs, blocked);
      }
      const ok = await check(client);
      if (ok) {
        await client.query(`DELETE FROM login_failures WHERE scope = 'pair' AND key = $1`, [pair]);
      } else {
        for (const [scope, key] of keys) {
          const failures = (rows.find((r) => r.scope === scope)?.failures ?? 0) + 1;
          await client.query(
            `UPDATE login_failures SET failures = $3, last_failure_at = clock_timestamp(),
               blocked_until = clock_timestamp() + $4 * interval '1 millisecond'
             WHERE scope = $1 AND key = $2`,
            [scope, key, failures, waitAfter(this.limits[scope], failures)],
          );
        }
      }
      return ok;
    });
  }

  /** Forgets failures older than the forget window (run now and then; the table stays small). */
  async prune(): Promise<number> {
    const { rowCount } = await this.db.query(
      `DELETE FROM login_failures WHERE last_failure_at < clock_timestamp() - $1 * interval '1 millisecond'`,
      [this.limits.forgetAfterMs],
    );
    return rowCount ?? 0;
  }
}

interface LockedRow {
  scope: Scope;
  failures: number;
  wait_ms: number;
}

/**
 * Creates and locks the keys' rows; failures older than the forget window count as none.
 * Returns each key's failures and how long it must still wait.
 */
async function lock(
  db: Queryable,
  keys: Array<[Scope, string]>,
  forgetAfterMs: number,
): Promise<LockedRow[]> {
  const { rows } = await db.query<LockedRow>(
    `INSERT INTO login_failures AS f (scope, key, failures, last_failure_at, blocked_until)
     SELECT scope, key, 0, clock_timestamp(), clock_timestamp() FROM unnest($1::text[], $2::text[]) AS k (scope, key)
     ON CONFLICT (scope, key) DO UPDATE SET
       failures = CASE WHEN f.last_failure_at < clock_timestamp() - $3 * interval '1 millisecond' THEN 0 ELSE f.failures END,
       blocked_until = CASE WHEN f.last_failure_at < clock_timestamp() - $3 * interval '1 millisecond' THEN clock_timestamp()
                            ELSE f.blocked_until END
     RETURNING scope, failures,
       greatest(0, extract(epoch FROM (blocked_until - clock_timestamp())) * 1000)::float8 AS wait_ms`,
    [keys.map(([scope]) => scope), keys.map(([, key]) => key), forgetAfterMs],
  );
  return rows;
}

const WHO: Record<Scope, string> = {
  address: 'from this address',
  pair: 'for this username from this address',
  username: 'for this username from addresses that failed for it',
};

function limited(waitMs: number, scope: Scope): never {
  const retryAfterSeconds = Math.max(1, Math.ceil(waitMs / 1000));
  throw new RateLimitedError(`too many failed logins ${WHO[scope]}; try again in ${retryAfterSeconds} s`, {
    retryAfterSeconds,
  });
}
