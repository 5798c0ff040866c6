import { deleteInBatches, type Pool, type Queryable, withTransaction } from '../../common/index.js';

/** Months made ahead of the current one, so a month's first play never waits for its table. */
export const MONTHS_AHEAD = 2;
/** How often each history worker checks the partitions (they are made months ahead). */
export const MAINTENANCE_INTERVAL_MS = 3_600_000;

export interface PlayLogPolicy {
  /** Whole months kept before the current one; 0 keeps every month. */
  retentionMonths: number;
  /** Oldest play date accepted (PLAY_MAX_AGE_DAYS): its month is always there. */
  playMaxAgeDays: number;
  /** Event ids are kept this long (play time) to refuse a play stored twice. */
  dedupWindowMs: number;
}

export interface MaintenanceResult {
  created: string[];
  dropped: string[];
  forgottenIds: number;
}

const DAY_MS = 86_400_000;

/** The first instant of the UTC month `offset` months after the one `at` is in. */
function monthStart(at: Date, offset = 0): Date {
  return new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + offset, 1));
}

const partitionName = (month: Date) =>
  `plays_${month.getUTCFullYear()}_${String(month.getUTCMonth() + 1).padStart(2, '0')}`;

/** The month a partition name stands for, or null for a table that is not one of ours. */
function partitionMonth(name: string): Date | null {
  const m = /^plays_(\d{4})_(\d{2})$/.exec(name);
  return m ? new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, 1)) : null;
}

/**
 * The oldest month kept: `retentionMonths` whole months before the current one, but never
 * a month a play may still be accepted for (PLAY_MAX_AGE_DAYS), so a late play always finds
 * its partition. Null when every month is kept.
 */
function oldestKept(now: Date, policy: PlayLogPolicy): Date | null {
  if (policy.retentionMonths === 0) return null;
  const byRetention = monthStart(now, -policy.retentionMonths);
  const byAge = monthStart(new Date(now.getTime() - (policy.playMaxAgeDays + 1) * DAY_MS));
  return byAge < byRetention ? byAge : byRetention;
}

/**
 * One maintenance run of the play log: makes the partitions of every month from the oldest
 * play date accepted to MONTHS_AHEAD months ahead, drops the partitions of months older
 * than the retention, and forgets event ids past the dedup window. Workers run it at start
 * and every MAINTENANCE_INTERVAL_MS; an advisory lock lets one of them run it at a time (the
 * others skip that turn).
 */
export async function maintainPlayLog(
  pool: Pool,
  policy: PlayLogPolicy,
  now: Date = new Date(),
): Promise<MaintenanceResult | null> {
  const result: MaintenanceResult = { created: [], dropped: [], forgottenIds: 0 };
  const ran = await withTransaction(pool, async (client) => {
    const { rows: locked } = await client.query<{ ok: boolean }>(
      `SELECT pg_try_advisory_xact_lock(hashtext(current_schema() || '.plays maintenance')) AS ok`,
    );
    if (!locked[0]!.ok) return false;
    const from = monthStart(new Date(now.getTime() - policy.playMaxAgeDays * DAY_MS));
    for (let month = from; month <= monthStart(now, MONTHS_AHEAD); month = monthStart(month, 1)) {
      const { rows } = await client.query<{ made: boolean }>(
        'SELECT create_play_partition($1::date) AS made',
        [month.toISOString().slice(0, 10)],
      );
      if (rows[0]!.made) result.created.push(partitionName(month));
    }
    const oldest = oldestKept(now, policy);
    if (!oldest) return true;
    for (const name of await partitionNames(client)) {
      const month = partitionMonth(name);
      if (!month || month >= oldest) continue;
      // Detached first: the parent's lock is held only for the detach, not for the drop's I/O.
      await client.query(`ALTER TABLE plays DETACH PARTITION ${name}`);
      await client.query(`DROP TABLE ${name}`);
      result.dropped.push(name);
    }
    return true;
  });
  if (!ran) return null;
  const cutoff = new Date(now.getTime() - policy.dedupWindowMs);
  result.forgottenIds = await deleteInBatches(pool, 'play_ids', 'played_at < $1', [cutoff]);
  return result;
}

async function partitionNames(db: Queryable): Promise<string[]> {
  const { rows } = await db.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = 'plays'::regclass ORDER BY 1`,
  );
  return rows.map((r) => r.name);
}

/** The months the play log has partitions for, oldest first (`YYYY-MM`). */
export async function playLogMonths(pool: Pool): Promise<string[]> {
  return (await partitionNames(pool))
    .map(partitionMonth)
    .filter((m): m is Date => m !== null)
    .sort((a, b) => a.getTime() - b.getTime())
    .map((m) => m.toISOString().slice(0, 7));
}
