/**
 * The gateway benchmark's baseline, in its own process: a bare express app answering the same
 * routes by querying PostgreSQL directly with the catalog's own SQL (its query functions),
 * through a pool the size of a catalog worker's. What the gateway -> RPC -> catalog path adds
 * is the difference between the two.
 * argv: database URL, pool size. Sends its port to the parent once listening.
 */
import type { AddressInfo } from 'node:net';
import express from 'express';
import { catalogContract } from '../common/contracts/index.js';
import { createPool } from '../common/index.js';
import { queryTracks, TRACK_SELECT } from '../services/catalog/queries.js';
import { search } from '../services/catalog/search.js';

const pool = createPool({ url: process.argv[2]!, schema: 'catalog', max: Number(process.argv[3] ?? 10) });
const searchParams = catalogContract.methods.search.params;

const app = express();
app.get('/api/tracks/:id', async (req, res) => {
  const [track] = await queryTracks(pool, `${TRACK_SELECT} WHERE t.id = $1`, [req.params.id]);
  if (track) res.json(track);
  else res.status(404).json({ error: { code: 'NOT_FOUND', message: `no track ${req.params.id}` } });
});
app.get('/api/search', async (req, res) => {
  const { q, limit } = searchParams.parse({ q: req.query.q });
  res.json(await search(pool, q, limit, null));
});

const server = app.listen(0, '127.0.0.1', () => {
  process.send?.({ port: (server.address() as AddressInfo).port });
});
process.on('message', (m) => {
  if (m !== 'stop') return;
  server.close();
  pool.end().finally(() => process.exit(0));
});
