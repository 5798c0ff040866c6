import type { Logger } from 'pino';
import { heardEnough, type ScrobbleService, type Track } from '../../common/contracts/index.js';
import { type Pool, type PoolClient, type Sealer, type Worker, withTransaction } from '../../common/index.js';
import { LASTFM_LIMITS, type LastfmClient } from './lastfm.js';
import { LISTENBRAINZ_LIMITS, type ListenBrainzClient } from './listenbrainz.js';
import type { CallOutcome, Listen, ListenOutcome } from './protocol.js';
import { markBroken } from './store.js';

/** The scrobbling services' clients, and the lookup of the tracks a listen names. */
export interface Outside {
  listenbrainz: ListenBrainzClient;
  lastfm: LastfmClient;
  tracks: (ids: readonly string[]) => Promise<Map<string, Track>>;
  sealer: Sealer;
}

export interface SenderOptions extends Outside {
  pool: Pool;
  log: Logger;
  /** How often the queue is looked at when there was nothing to do. */
  pollMs: number;
  /** Longest back-off between tries after failures in a row. */
  backoffMaxMs: number;
  /** How long a claimed link is this sender's (more than a call's timeout). */
  leaseMs: number;
  /** Links sent to at once by this worker. */
  concurrency?: number;
}

interface QueuedRow {
  id: string;
  track_id: string;
  played_at: Date;
  ms_played: number;
  kind: 'live' | 'import';
}

/** The wait before try number `failures + 1`: doubling from 1 s, with jitter, up to the cap. */
export function backoffMs(failures: number, maxMs: number): number {
  const base = Math.min(maxMs, 1000 * 2 ** Math.min(20, Math.max(0, failures - 1)));
  return Math.round(base * (0.5 + Math.random() / 2));
}

/** Why a play is not sent, by our rules and the service's documented ones; null when it goes. */
export function skipReason(
  service: ScrobbleService,
  row: { ms_played: number; played_at: Date },
  track: Track | undefined,
  now = Date.now(),
): string | null {
  if (!track) return 'the catalog has no such track';
  if (!heardEnough(row.ms_played, track.durationMs))
    return 'heard less than half the track and less than 4 minutes';
  if (service === 'lastfm') {
    if (track.durationMs < LASTFM_LIMITS.minTrackMs) return 'Last.fm takes no track shorter than 30 s';
    if (row.played_at.getTime() < now - LASTFM_LIMITS.maxAgeMs)
      return 'Last.fm takes no play older than 14 days';
  }
  return null;
}

export function listenOf(track: Track, playedAt: Date): Listen {
  return {
    artist: track.artistName,
    track: track.title,
    album: track.albumTitle || null,
    durationMs: track.durationMs,
    trackNumber: track.number,
    playedAt,
  };
}

/**
 * Sends the queued listens (the outbox of `listens`), link by link. A link is claimed with a
 * lease, so one sender at a time works on it whatever the number of workers; each batch's
 * answer is recorded in one transaction: what the service took is `sent` (never sent again),
 * what it refused one by one is `refused` with the reason, and otherwise nothing changes but
 * when the link may be tried again: after the service's own wait (429 `Retry-After`,
 * ListenBrainz's `X-RateLimit-Reset-In` once `X-RateLimit-Remaining` is 0) or a back-off.
 * Refused credentials break the link, its listens kept for when the user links again.
 */
export class ListenSender implements Worker {
  private stopping = false;
  private loop: Promise<void> | null = null;
  private wake: (() => void) | null = null;

  constructor(private readonly opts: SenderOptions) {}

  async start(): Promise<void> {
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      let busy = false;
      try {
        busy = (await this.turn()) > 0;
      } catch (err) {
        this.opts.log.warn({ err: (err as Error).message }, 'scrobble sender paused; trying again');
      }
      if (this.stopping) break;
      if (busy) continue;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, this.opts.pollMs).unref();
      });
    }
  }

  /** One look at the queue: sends one batch for each due link it could claim; how many. */
  async turn(): Promise<number> {
    const { rows } = await this.opts.pool.query<{ user_id: string; service: ScrobbleService }>(
      `SELECT l.user_id, l.service FROM links l
       WHERE l.state = 'ok' AND l.not_before <= now() AND (l.lease_until IS NULL OR l.lease_until < now())
         AND EXISTS (SELECT 1 FROM listens q WHERE q.user_id = l.user_id AND q.service = l.service AND q.state = 'queued')
       ORDER BY l.not_before LIMIT 64`,
    );
    const work = [...rows];
    let done = 0;
    const lanes = Array.from({ length: Math.min(this.opts.concurrency ?? 4, work.length) }, async () => {
      for (let next = work.shift(); next && !this.stopping; next = work.shift()) {
        if (await this.sendFor(next.user_id, next.service)) done++;
      }
    });
    await Promise.all(lanes);
    return done;
  }

  /** Claims a link and sends its next batch; false when another sender had it. */
  private async sendFor(userId: string, service: ScrobbleService): Promise<boolean> {
    const { pool, log } = this.opts;
    const { rows } = await pool.query<{ secret: string; failures: number }>(
      `UPDATE links SET lease_until = now() + make_interval(secs => $3::double precision / 1000)
       WHERE user_id = $1 AND service = $2 AND state = 'ok' AND not_before <= now()
         AND (lease_until IS NULL OR lease_until < now())
       RETURNING secret, failures`,
      [userId, service, this.opts.leaseMs],
    );
    const link = rows[0];
    if (!link) return false;
    const opened = this.opts.sealer.open(link.secret, userId);
    if (!opened) {
      await markBroken(pool, userId, service, 'the stored credentials no longer open; link again');
      return true;
    }
    if (opened.stale) {
      // Sealed under a previous token secret (a rotation under way): sealed again under the current one.
      await pool.query('UPDATE links SET secret = $3 WHERE user_id = $1 AND service = $2 AND secret = $4', [
        userId,
        service,
        this.opts.sealer.seal(opened.value, userId),
        link.secret,
      ]);
    }
    const batch = service === 'lastfm' ? LASTFM_LIMITS.batch : LISTENBRAINZ_LIMITS.batch;
    const { rows: queued } = await pool.query<QueuedRow>(
      `SELECT id, track_id, played_at, ms_played, kind FROM listens
       WHERE user_id = $1 AND service = $2 AND state = 'queued' ORDER BY id LIMIT $3`,
      [userId, service, batch],
    );
    let tracks: Map<string, Track>;
    try {
      tracks = await this.opts.tracks(queued.map((q) => q.track_id));
    } catch (err) {
      // The catalog, not the service, is away: no failure of the link's, a short wait.
      log.warn({ err: (err as Error).message }, 'no track names for scrobbling; trying again');
      await this.release(userId, service, { waitMs: 5000 });
      return true;
    }
    const skipped: Array<{ id: string; reason: string }> = [];
    const going: Array<{ row: QueuedRow; listen: Listen }> = [];
    for (const row of queued) {
      const track = tracks.get(row.track_id);
      const reason = skipReason(service, row, track);
      if (reason || !track) skipped.push({ id: row.id, reason: reason ?? 'unknown track' });
      else going.push({ row, listen: listenOf(track, row.played_at) });
    }
    const { answers: results, last: end } =
      going.length > 0 ? await this.deliver(service, opened.value, going) : { answers: [], last: null };
    await withTransaction(pool, async (tx) => {
      await settle(tx, 'skipped', skipped);
      const sent = results.filter((r) => r.outcome.ok).map((r) => ({ id: r.id, reason: null }));
      const refused = results.flatMap((r) => (r.outcome.ok ? [] : [{ id: r.id, reason: r.outcome.reason }]));
      await settle(tx, 'sent', sent);
      await settle(tx, 'refused', refused);
      if (end?.kind === 'credentials') {
        await markBroken(tx, userId, service, end.problem);
        log.warn({ userId, service, problem: end.problem }, 'link broken');
      } else if (end?.kind === 'retry') {
        const failures = link.failures + 1;
        const waitMs = end.waitMs ?? backoffMs(failures, this.opts.backoffMaxMs);
        log.info({ userId, service, reason: end.reason, waitMs, failures }, 'scrobbles wait');
        await tx.query(
          `UPDATE links SET failures = $3, not_before = now() + make_interval(secs => $4::double precision / 1000),
             lease_until = NULL WHERE user_id = $1 AND service = $2`,
          [userId, service, failures, waitMs],
        );
      } else {
        const waitMs = end?.kind === 'accepted' ? (end.waitMs ?? 0) : 0;
        await tx.query(
          `UPDATE links SET failures = 0, not_before = now() + make_interval(secs => $3::double precision / 1000),
             lease_until = NULL, last_sent_at = CASE WHEN $4 THEN now() ELSE last_sent_at END
           WHERE user_id = $1 AND service = $2`,
          [userId, service, waitMs, sent.length > 0],
        );
      }
    });
    return true;
  }

  /**
   * Sends the listens: the answer for each that the service gave one, and the last call's
   * outcome, which decides what the link does next. A payload refused as a
   * whole is sent again one listen at a time, so one bad listen does not hold the others.
   */
  private async deliver(
    service: ScrobbleService,
    secret: string,
    going: Array<{ row: QueuedRow; listen: Listen }>,
  ): Promise<{ answers: Array<{ id: string; outcome: ListenOutcome }>; last: CallOutcome }> {
    const send = (part: typeof going): Promise<CallOutcome> =>
      service === 'lastfm'
        ? this.opts.lastfm.scrobble(
            secret,
            part.map((g) => g.listen),
          )
        : this.opts.listenbrainz.submit(
            secret,
            part.length === 1 && part[0]!.row.kind === 'live' ? 'single' : 'import',
            part.map((g) => g.listen),
          );
    const answers: Array<{ id: string; outcome: ListenOutcome }> = [];
    let last: CallOutcome = { kind: 'accepted' };
    const record = (part: typeof going, outcome: CallOutcome): boolean => {
      last = outcome;
      if (outcome.kind === 'accepted') {
        for (const [i, g] of part.entries()) {
          answers.push({ id: g.row.id, outcome: outcome.each?.[i] ?? { ok: true } });
        }
        return true;
      }
      if (outcome.kind === 'refused' && part.length === 1) {
        answers.push({ id: part[0]!.row.id, outcome: { ok: false, reason: outcome.reason } });
        last = { kind: 'accepted' };
        return true;
      }
      return false;
    };
    const whole = await send(going);
    if (record(going, whole) || whole.kind !== 'refused') return { answers, last };
    for (const one of going) {
      if (!record([one], await send([one]))) break;
    }
    return { answers, last };
  }

  private async release(
    userId: string,
    service: ScrobbleService,
    { waitMs }: { waitMs: number },
  ): Promise<void> {
    await this.opts.pool.query(
      `UPDATE links SET lease_until = NULL, not_before = now() + make_interval(secs => $3::double precision / 1000)
       WHERE user_id = $1 AND service = $2`,
      [userId, service, waitMs],
    );
  }
}

/** Marks listens done, still queued ones only (an unlink meanwhile deleted them: nothing to mark). */
async function settle(
  tx: PoolClient,
  state: 'sent' | 'skipped' | 'refused',
  rows: Array<{ id: string; reason: string | null }>,
): Promise<void> {
  if (rows.length === 0) return;
  await tx.query(
    `UPDATE listens SET state = $1, reason = r.reason, done_at = now()
     FROM unnest($2::bigint[], $3::text[]) AS r(id, reason)
     WHERE listens.id = r.id AND listens.state = 'queued'`,
    [state, rows.map((r) => r.id), rows.map((r) => r.reason)],
  );
}
