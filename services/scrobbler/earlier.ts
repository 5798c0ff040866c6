import type { Logger } from 'pino';
import { type EarlierPlays, Events, type ScrobbleService } from '../../common/contracts/index.js';
import {
  type Broker,
  LogReader,
  type LogRecord,
  logBounds,
  NotFoundError,
  type Pool,
  partitionOf,
  type Worker,
  withTransaction,
} from '../../common/index.js';
import { earlierOf } from './store.js';

/**
 * "Send my earlier plays": the plays the event log holds of a user from before the link,
 * queued as `import` listens. All of a user's plays are in one partition of the log (by user
 * id), which is read from its oldest event to the newest one there was when the reading began;
 * each batch's listens commit with how far it got, so a reading stopped (a restart, a worker
 * lost) carries on from there, and a play is queued once whatever is read twice. The sender
 * then sends them at the services' pace, and drops what Last.fm would not take (older than
 * 14 days).
 */

interface ReadRow {
  user_id: string;
  service: ScrobbleService;
  log_partition: number;
  next_offset: string;
  first_offset: string | null;
  end_offset: string | null;
  before: Date;
}

/** Asks for the reading: begins it, or carries it on, or reads again what came since one that is done. */
export async function askEarlier(
  pool: Pool,
  userId: string,
  service: ScrobbleService,
  partitions: number,
): Promise<EarlierPlays> {
  return withTransaction(pool, async (tx) => {
    const { rows: links } = await tx.query<{ linked_at: Date }>(
      'SELECT linked_at FROM links WHERE user_id = $1 AND service = $2',
      [userId, service],
    );
    if (!links[0]) throw new NotFoundError(`link ${service === 'lastfm' ? 'Last.fm' : 'ListenBrainz'} first`);
    const { rows } = await tx.query(
      `INSERT INTO earlier_reads (user_id, service, log_partition, before) VALUES ($1, $2, $3, $4)
       ON CONFLICT (user_id, service) DO UPDATE SET
         state = 'reading', finished_at = NULL, lease_until = NULL,
         first_offset = CASE WHEN earlier_reads.state = 'done' THEN NULL ELSE earlier_reads.first_offset END,
         end_offset = CASE WHEN earlier_reads.state = 'done' THEN NULL ELSE earlier_reads.end_offset END,
         next_offset = CASE WHEN earlier_reads.state = 'done' THEN earlier_reads.end_offset + 1
                            ELSE earlier_reads.next_offset END
       RETURNING next_offset, first_offset, end_offset, queued, state, started_at, finished_at`,
      [userId, service, partitionOf(userId, partitions), links[0].linked_at],
    );
    return earlierOf(rows[0]);
  });
}

export interface EarlierReaderOptions {
  pool: Pool;
  broker: Broker;
  log: Logger;
  pollMs: number;
  leaseMs: number;
}

/** The worker that does the readings, one at a time per worker, each claimed with a lease. */
export class EarlierReader implements Worker {
  private stopping = false;
  private loop: Promise<void> | null = null;
  private wake: (() => void) | null = null;
  private reader: LogReader | null = null;

  constructor(private readonly opts: EarlierReaderOptions) {}

  async start(): Promise<void> {
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    await this.reader?.stop();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      let busy = false;
      try {
        busy = await this.turn();
      } catch (err) {
        this.opts.log.warn({ err: (err as Error).message }, 'reading earlier plays paused; trying again');
      }
      if (this.stopping) break;
      if (busy) continue;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, this.opts.pollMs).unref();
      });
    }
  }

  private lease(): string {
    return `now() + make_interval(secs => ${Math.ceil(this.opts.leaseMs / 1000)})`;
  }

  /** Claims one reading and reads it to its end (or until stopped); false when there was none. */
  async turn(): Promise<boolean> {
    const { pool, broker } = this.opts;
    const { rows } = await pool.query<ReadRow>(
      `UPDATE earlier_reads SET lease_until = ${this.lease()}
       WHERE (user_id, service) = (
         SELECT user_id, service FROM earlier_reads
         WHERE state = 'reading' AND (lease_until IS NULL OR lease_until < now())
         ORDER BY started_at LIMIT 1 FOR UPDATE SKIP LOCKED)
       RETURNING user_id, service, log_partition, next_offset, first_offset, end_offset, before`,
    );
    const job = rows[0];
    if (!job) return false;
    let end = job.end_offset === null ? null : Number(job.end_offset);
    let next = Number(job.next_offset);
    if (end === null) {
      const bounds = await logBounds(broker, job.log_partition);
      end = bounds?.last ?? -1;
      const first = Math.max(next, bounds?.first ?? 0);
      next = first;
      await pool.query(
        `UPDATE earlier_reads SET first_offset = $3, end_offset = $4, next_offset = $3
         WHERE user_id = $1 AND service = $2`,
        [job.user_id, job.service, first, end],
      );
    }
    if (next > end) {
      await this.finish(job);
      return true;
    }
    await this.read(job, next, end);
    return true;
  }

  private async finish(job: ReadRow): Promise<void> {
    await this.opts.pool.query(
      `UPDATE earlier_reads SET state = 'done', finished_at = now(), lease_until = NULL
       WHERE user_id = $1 AND service = $2`,
      [job.user_id, job.service],
    );
    this.opts.log.info({ userId: job.user_id, service: job.service }, 'earlier plays read');
  }

  /** Reads [from, end] of the partition, queueing the user's earlier plays batch by batch. */
  private async read(job: ReadRow, from: number, end: number): Promise<void> {
    const { pool, broker, log } = this.opts;
    let reached = false;
    const reader = new LogReader({
      broker,
      logger: log,
      partition: job.log_partition,
      from: { offset: from },
      batchSize: 500,
      consumerTag: `scrobbler-earlier/${job.service}/${job.user_id}`.slice(0, 200),
      onBatch: async (records) => {
        if (reached) return;
        const inRange = records.filter((r) => r.offset <= end);
        const last = records[records.length - 1]!.offset;
        await withTransaction(pool, async (tx) => {
          const plays = earlierPlays(inRange, job.user_id, job.before);
          let queued = 0;
          if (plays.length > 0) {
            const res = await tx.query(
              `INSERT INTO listens (user_id, service, event_id, track_id, played_at, ms_played, kind)
               SELECT $1, $2, p.event_id, p.track_id, p.played_at, p.ms_played, 'import'
               FROM unnest($3::uuid[], $4::text[], $5::timestamptz[], $6::int[])
                      AS p(event_id, track_id, played_at, ms_played)
               ON CONFLICT (user_id, service, event_id) DO NOTHING`,
              [
                job.user_id,
                job.service,
                plays.map((p) => p.id),
                plays.map((p) => p.trackId),
                plays.map((p) => p.playedAt),
                plays.map((p) => p.msPlayed),
              ],
            );
            queued = res.rowCount ?? 0;
          }
          // Still this reading's (an unlink deletes it): the offset moves with what was queued.
          const { rowCount } = await tx.query(
            `UPDATE earlier_reads SET next_offset = $3, queued = queued + $4, lease_until = ${this.lease()}
             WHERE user_id = $1 AND service = $2 AND state = 'reading'`,
            [job.user_id, job.service, Math.min(last, end) + 1, queued],
          );
          if (rowCount === 0) throw new Error('the reading was ended meanwhile');
        });
        if (last >= end) reached = true;
      },
    });
    this.reader = reader;
    try {
      await reader.start();
      // Until the end is read, the reader fails, or nothing comes for a while (retention ate the rest).
      let quietSince = Date.now();
      let seen = reader.lastOffset;
      for (;;) {
        const closed = await Promise.race([reader.closed, new Promise((r) => setTimeout(r, 200, 'tick'))]);
        if (closed !== 'tick') {
          if (closed) throw closed;
          return;
        }
        if (reached || this.stopping) break;
        if (reader.lastOffset !== seen) {
          seen = reader.lastOffset;
          quietSince = Date.now();
        } else if (Date.now() - quietSince > 30_000) {
          throw new Error('the event log gave nothing more for 30 s');
        }
      }
    } finally {
      await reader.stop();
      this.reader = null;
    }
    if (reached) await this.finish(job);
  }
}

function earlierPlays(records: readonly LogRecord[], userId: string, before: Date) {
  const out: Array<{ id: string; trackId: string; playedAt: string; msPlayed: number }> = [];
  for (const r of records) {
    if (r.envelope?.type !== Events.trackPlayed.type) continue;
    const data = Events.trackPlayed.schema.safeParse(r.envelope.data);
    if (!data.success || data.data.userId !== userId) continue;
    if (Date.parse(data.data.playedAt) >= before.getTime()) continue;
    out.push({
      id: r.envelope.id,
      trackId: data.data.trackId,
      playedAt: data.data.playedAt,
      msPlayed: data.data.msPlayed,
    });
  }
  return out;
}
