import { type Pool, RateLimitedError } from '../../common/index.js';

/** How many accounts may be made: per client address per hour, and by everyone per minute. */
export interface RegistrationLimits {
  perAddressPerHour: number;
  perMinute: number;
}

const HOUR_MS = 3_600_000;
const MINUTE_MS = 60_000;

interface Window {
  scope: 'address' | 'all';
  key: string;
  ms: number;
  limit: number;
  refusal: string;
}

/**
 * Counts registrations in fixed windows kept in the database, so every worker shares them:
 * each attempt (each entry of a `/rpc` batch is one) adds one to its address's hour and to the
 * minute of all addresses, and is refused (429, with the wait until the window ends) once a
 * count passes its limit, before any password is hashed. An attempt refused for its address
 * does not use up the overall count, so one flooding address cannot keep everyone else out.
 * A caller naming no address (a service) is counted in the overall window only.
 */
export class RegistrationThrottle {
  /** Until when this worker knows the overall window is full: refusals then cost no query. */
  private fullUntil = 0;

  constructor(
    private readonly db: Pool,
    private readonly limits: RegistrationLimits,
  ) {}

  async admit(address: string | undefined): Promise<void> {
    // A flood that filled the overall window is refused without a query until it ends: the
    // count only grows within a window, so nothing this worker refuses would have been admitted.
    const full = this.fullUntil - Date.now();
    if (full > 0) refuse('too many new accounts are being made right now', full);
    const windows: Window[] = [
      ...(address
        ? [
            {
              scope: 'address' as const,
              key: address,
              ms: HOUR_MS,
              limit: this.limits.perAddressPerHour,
              refusal: 'too many new accounts from this address',
            },
          ]
        : []),
      {
        scope: 'all',
        key: '',
        ms: MINUTE_MS,
        limit: this.limits.perMinute,
        refusal: 'too many new accounts are being made right now',
      },
    ];
    for (const w of windows) {
      const now = Date.now();
      const start = Math.floor(now / w.ms) * w.ms;
      const { rows } = await this.db.query<{ count: number }>(
        `INSERT INTO registration_counts AS c (scope, key, window_start, count) VALUES ($1, $2, $3, 1)
         ON CONFLICT (scope, key, window_start) DO UPDATE SET count = c.count + 1
         RETURNING count`,
        [w.scope, w.key, new Date(start)],
      );
      if (rows[0]!.count > w.limit) {
        if (w.scope === 'all') this.fullUntil = start + w.ms;
        refuse(w.refusal, start + w.ms - now);
      }
    }
  }

  /** Deletes windows older than a day (run now and then; the table stays small). */
  async prune(): Promise<number> {
    const { rowCount } = await this.db.query(
      `DELETE FROM registration_counts WHERE window_start < now() - interval '1 day'`,
    );
    return rowCount ?? 0;
  }
}

function refuse(why: string, waitMs: number): never {
  const retryAfterSeconds = Math.max(1, Math.ceil(waitMs / 1000));
  throw new RateLimitedError(`${why}; try again in ${retryAfterSeconds} s`, { retryAfterSeconds });
}
