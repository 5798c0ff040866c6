import type pg from 'pg';
import type { Logger } from 'pino';
import { type EventDefinition, type EventEnvelope, makeEnvelope } from '../events/envelope.js';
import type { EventPublisher } from '../events/publisher.js';
import { currentTraceId } from '../trace.js';
import type { Pool, PoolClient } from './pool.js';

const CHANNEL = 'outbox';

/**
 * Records an event in the outbox inside the caller's transaction: it is published if and
 * only if the transaction commits. The data is checked against the event's schema first (and
 * given its defaults), so a producer's mistake fails its own transaction, not a consumer.
 */
export async function enqueueEvent<T>(
  client: PoolClient,
  event: EventDefinition<T>,
  data: T,
): Promise<EventEnvelope<T>> {
  const { type } = event;
  const envelope = makeEnvelope(type, event.schema.parse(data));
  await client.query('INSERT INTO outbox (event_id, type, envelope, trace_id) VALUES ($1, $2, $3, $4)', [
    envelope.id,
    type,
    JSON.stringify(envelope),
    currentTraceId() ?? null,
  ]);
  await client.query('SELECT pg_notify($1, $2)', [CHANNEL, '']);
  return envelope;
}

export interface OutboxRelayOptions {
  pool: Pool;
  publisher: EventPublisher;
  logger: Logger;
  /** Poll interval when nothing notifies (default 1000 ms). */
  intervalMs?: number;
  /** Rows published per transaction (default 200). */
  batchSize?: number;
  /** How long published rows are kept for inspection before they are deleted (default 1 day). */
  retainMs?: number;
}

/** How often the relay deletes published rows past their retention. */
const PRUNE_EVERY_MS = 10 * 60_000;

/**
 * Publishes pending outbox rows with confirms and marks them sent. Rows stay pending while
 * the broker is unreachable and go out when it returns. Several workers may run relays on
 * one schema: `FOR UPDATE SKIP LOCKED` keeps them from sending the same row at once.
 */
export class OutboxRelay {
  private readonly log: Logger;
  private timer: NodeJS.Timeout | null = null;
  private listener: pg.PoolClient | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;
  private lastPrune = 0;

  constructor(private readonly opts: OutboxRelayOptions) {
    this.log = opts.logger.child({ module: 'outbox-relay' });
  }

  async start(): Promise<void> {
    await this.listen().catch((err: Error) =>
      this.log.warn({ err: err.message }, 'outbox LISTEN unavailable'),
    );
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
    if (this.listener) {
      this.listener.release(true);
      this.listener = null;
    }
  }

  /** Publishes everything pending now; resolves with how many rows went out. */
  async flush(): Promise<number> {
    let total = 0;
    for (;;) {
      const sent = await this.publishBatch();
      total += sent;
      if (sent < (this.opts.batchSize ?? 200)) return total;
    }
  }

  /** Deletes published rows older than the retention, so the outbox does not grow forever. */
  async prune(): Promise<number> {
    this.lastPrune = Date.now();
    const { rowCount } = await this.opts.pool.query(
      `DELETE FROM outbox WHERE published_at IS NOT NULL AND published_at < now() - $1 * interval '1 millisecond'`,
      [this.opts.retainMs ?? 24 * 3600_000],
    );
    return rowCount ?? 0;
  }

  private async listen(): Promise<void> {
    const client = await this.opts.pool.connect();
    client.on('notification', () => this.kick());
    client.on('error', () => {
      this.listener = null;
      client.release(true);
    });
    await client.query(`LISTEN ${CHANNEL}`);
    this.listener = client;
  }

  private kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.schedule(0);
  }

  private schedule(delay: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.running = this.tick().finally(() => {
        this.running = null;
      });
    }, delay);
  }

  private async tick(): Promise<void> {
    let delay = this.opts.intervalMs ?? 1000;
    try {
      await this.flush();
      if (Date.now() - this.lastPrune > PRUNE_EVERY_MS) await this.prune();
      if (!this.listener) await this.listen().catch(() => {});
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'outbox relay could not publish; will retry');
      delay = Math.min(delay, 1000);
    }
    if (this.again) {
      this.again = false;
      delay = 0;
    }
    this.schedule(delay);
  }

  private async publishBatch(): Promise<number> {
    const client = await this.opts.pool.connect();
    try {
      await client.query('BEGIN');
      const { rows } = await client.query<{ id: string; envelope: EventEnvelope; trace_id: string | null }>(
        `SELECT id, envelope, trace_id FROM outbox WHERE published_at IS NULL
         ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`,
        [this.opts.batchSize ?? 200],
      );
      if (rows.length === 0) {
        await client.query('COMMIT');
        return 0;
      }
      await Promise.all(
        rows.map((r) => this.opts.publisher.publishEnvelope(r.envelope, r.trace_id ?? undefined)),
      );
      await client.query('UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])', [
        rows.map((r) => r.id),
      ]);
      await client.query('COMMIT');
      return rows.length;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      client.release();
    }
  }
}
