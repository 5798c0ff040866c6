/**
 * The `plays` benchmark's floor, its storing half, in its own process: the least a consumer
 * that stores and counts plays can do. It takes the `track.played` envelopes off one queue
 * (prefetch 200) and, for each batch of up to 100 (what is there, not waiting for more), runs
 * one statement: insert every play, and upsert one counter per track. Then it acks the batch.
 * No idempotency (no event-id check), no validation, no logs.
 * argv: AMQP URL, queue, database URL, schema (with tables `plays` and `track_plays`).
 * Tells the parent `{ ready: true }` once consuming.
 */
import amqp, { type ConsumeMessage } from 'amqplib';
import pg from 'pg';
import type { TrackPlayed } from '../common/contracts/index.js';
import type { EventEnvelope } from '../common/index.js';

const [url, queue, databaseUrl, schema] = process.argv.slice(2) as [string, string, string, string];
const BATCH = 100;
const db = new pg.Client({ connectionString: databaseUrl });
await db.connect();
const conn = await amqp.connect(url, { noDelay: true });
const ch = await conn.createChannel();
await ch.prefetch(2 * BATCH);

const waiting: ConsumeMessage[] = [];
let flushing = false;

const store = `WITH p AS (
    INSERT INTO ${schema}.plays (event_id, user_id, track_id, played_at, ms_played)
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::int[])
    RETURNING track_id)
  INSERT INTO ${schema}.track_plays (track_id, plays)
  SELECT track_id, count(*) FROM p GROUP BY track_id
  ON CONFLICT (track_id) DO UPDATE SET plays = track_plays.plays + excluded.plays`;

async function flush(): Promise<void> {
  if (flushing) return;
  flushing = true;
  try {
    while (waiting.length > 0) {
      const batch = waiting.splice(0, BATCH);
      const plays = batch.map((m) => JSON.parse(m.content.toString()) as EventEnvelope<TrackPlayed>);
      await db.query(store, [
        plays.map((e) => e.id),
        plays.map((e) => e.data.userId),
        plays.map((e) => e.data.trackId),
        plays.map((e) => e.data.playedAt),
        plays.map((e) => e.data.msPlayed),
      ]);
      ch.ack(batch.at(-1)!, true);
    }
  } finally {
    flushing = false;
  }
}

await ch.consume(queue, (msg) => {
  if (!msg) return;
  waiting.push(msg);
  void flush();
});
process.send?.({ ready: true });
process.on('message', (m) => {
  if (m !== 'stop') return;
  conn
    .close()
    .then(() => db.end())
    .finally(() => process.exit(0));
});
