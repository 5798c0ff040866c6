import type { EarlierPlays, ScrobbleLink, ScrobbleService } from '../../common/contracts/index.js';
import { type Pool, type Queryable, withTransaction } from '../../common/index.js';

/** The link rows and listen counts of the scrobbler's schema (migrations/001_scrobbler.sql). */

interface LinkRow {
  service: ScrobbleService;
  account: string | null;
  state: 'ok' | 'broken';
  problem: string | null;
  linked_at: Date;
  not_before: Date;
  failures: number;
  last_sent_at: Date | null;
}

interface EarlierRow {
  service: ScrobbleService;
  next_offset: string;
  first_offset: string | null;
  end_offset: string | null;
  queued: number;
  state: 'reading' | 'done';
  started_at: Date;
  finished_at: Date | null;
}

export function earlierOf(row: Omit<EarlierRow, 'service'>): EarlierPlays {
  const first = row.first_offset === null ? null : Number(row.first_offset);
  const end = row.end_offset === null ? null : Number(row.end_offset);
  const total = first === null || end === null ? 0 : Math.max(0, end - first + 1);
  const read = first === null ? 0 : Math.min(total, Math.max(0, Number(row.next_offset) - first));
  return {
    state: row.state,
    read,
    total,
    queued: row.queued,
    startedAt: row.started_at.toISOString(),
    finishedAt: row.finished_at?.toISOString() ?? null,
  };
}

/** The user's links, each with its counts and its "send my earlier plays" progress. */
export async function linksOf(
  db: Queryable,
  userId: string,
  only?: ScrobbleService,
): Promise<ScrobbleLink[]> {
  const { rows: links } = await db.query<LinkRow>(
    `SELECT service, account, state, problem, linked_at, not_before, failures, last_sent_at
     FROM links WHERE user_id = $1 AND ($2::text IS NULL OR service = $2) ORDER BY service`,
    [userId, only ?? null],
  );
  if (links.length === 0) return [];
  const { rows: counts } = await db.query<{ service: string; state: string; n: string }>(
    'SELECT service, state, count(*) AS n FROM listens WHERE user_id = $1 GROUP BY service, state',
    [userId],
  );
  const { rows: earlier } = await db.query<EarlierRow>(
    `SELECT service, next_offset, first_offset, end_offset, queued, state, started_at, finished_at
     FROM earlier_reads WHERE user_id = $1`,
    [userId],
  );
  return links.map((l) => {
    const n = (state: string) =>
      Number(counts.find((c) => c.service === l.service && c.state === state)?.n ?? 0);
    const read = earlier.find((e) => e.service === l.service);
    const waiting = l.failures > 0 || l.not_before.getTime() > Date.now();
    return {
      service: l.service,
      account: l.account,
      state: l.state,
      problem: l.problem,
      linkedAt: l.linked_at.toISOString(),
      counts: { queued: n('queued'), sent: n('sent'), skipped: n('skipped'), refused: n('refused') },
      lastSentAt: l.last_sent_at?.toISOString() ?? null,
      retryAt: waiting && l.state === 'ok' ? l.not_before.toISOString() : null,
      earlier: read ? earlierOf(read) : null,
    };
  });
}

/**
 * Links (or links again) a service: new credentials, the link mended. A new link sends plays
 * dated from now; linking again keeps the link's date, so nothing played meanwhile is lost.
 */
export async function saveLink(
  db: Queryable,
  link: { userId: string; service: ScrobbleService; sealed: string; account: string | null },
): Promise<void> {
  await db.query(
    `INSERT INTO links (user_id, service, secret, account) VALUES ($1, $2, $3, $4)
     ON CONFLICT (user_id, service) DO UPDATE SET secret = excluded.secret, account = excluded.account,
       state = 'ok', problem = NULL, not_before = now(), failures = 0`,
    [link.userId, link.service, link.sealed, link.account],
  );
}

/**
 * Ends a link at once: its credentials, its waiting listens and its reading of earlier plays
 * go. What was sent stays recorded, so linking again never sends a play twice.
 */
export async function deleteLink(pool: Pool, userId: string, service: ScrobbleService): Promise<boolean> {
  return withTransaction(pool, async (tx) => {
    const { rowCount } = await tx.query('DELETE FROM links WHERE user_id = $1 AND service = $2', [
      userId,
      service,
    ]);
    await tx.query(`DELETE FROM listens WHERE user_id = $1 AND service = $2 AND state = 'queued'`, [
      userId,
      service,
    ]);
    await tx.query('DELETE FROM earlier_reads WHERE user_id = $1 AND service = $2', [userId, service]);
    return (rowCount ?? 0) > 0;
  });
}

/** The service refused the link's credentials: nothing more goes until the user links again. */
export async function markBroken(
  db: Queryable,
  userId: string,
  service: ScrobbleService,
  problem: string,
): Promise<void> {
  await db.query(
    `UPDATE links SET state = 'broken', problem = $3, lease_until = NULL WHERE user_id = $1 AND service = $2`,
    [userId, service, problem],
  );
}
