/**
 * The `plays` benchmark's floor, its accepting half, in its own process: the least an HTTP
 * endpoint taking a play can do here. Express with express.json() and one route, `POST /api/plays`, that publishes
 * the same `track.played` envelope the gateway publishes, persistent, on a confirm channel, to
 * the benchmark's topic exchange (routed to the queue bench/plays-floor-consumer.ts stores and
 * counts from), and answers 202 with the event id once the broker confirmed. No auth, no
 * track check, no idempotency, no logs.
 * argv: AMQP URL, exchange. Sends its port to the parent once listening.
 */
import type { AddressInfo } from 'node:net';
import amqp from 'amqplib';
import express from 'express';
import { publishPlay } from './raw-play.js';

const [url, exchange] = process.argv.slice(2) as [string, string];
const conn = await amqp.connect(url, { noDelay: true });
const ch = await conn.createConfirmChannel();

const app = express();
app.use(express.json());
app.post('/api/plays', (req, res) => {
  const body = req.body as { trackId: string; msPlayed?: number };
  const id = publishPlay(
    ch,
    exchange,
    {
      userId: 'floor',
      trackId: body.trackId,
      playedAt: new Date().toISOString(),
      msPlayed: body.msPlayed ?? 30_000,
      source: 'api',
    },
    (err) => {
      if (err) res.status(503).json({ error: 'not confirmed' });
      else res.status(202).json({ id });
    },
  );
});

const server = app.listen(0, '127.0.0.1', () => {
  process.send?.({ port: (server.address() as AddressInfo).port });
});
process.on('message', (m) => {
  if (m !== 'stop') return;
  server.close();
  conn.close().finally(() => process.exit(0));
});
