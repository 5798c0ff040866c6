import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecondPostgres } from '../support/pg-second.js';
import { useSystem } from './helpers.js';
import { playThroughOutage } from './outage.js';

const unavailable = SecondPostgres.unavailable();
if (unavailable) console.log(`[faults] second database server: skipped (${unavailable})`);

describe.skipIf(unavailable !== null)(
  'second database server down (history and stats on a PostgreSQL server of their own, stopped for 10 s)',
  () => {
    let second: SecondPostgres | undefined;
    beforeAll(async () => {
      second = await SecondPostgres.start('fdb2');
    }, 120_000);
    afterAll(async () => {
      await second?.drop();
    }, 120_000);
    // Declared after: it starts once the server exists, and (after-hooks run in reverse) stops
    // before the server is dropped.
    const system = useSystem(() => ({
      label: 'fdb2',
      databases: { history: second!.adminUrl, stats: second!.adminUrl },
    }));

    it('accepts plays meanwhile and stores and counts each once after; only history and stats answer 503', async () => {
      const s = system();
      const pids = () => s.procs.filter((p) => !p.exit).map((p) => `${p.label}:${p.pid}`);
      const before = pids();
      // The data really is on the second server, and the main one has no play of it.
      const { rows } = await s.dbFor('history').query<{ port: number }>('SELECT inet_server_port() AS port');
      expect(rows[0]!.port).toBe(Number(new URL(second!.adminUrl).port));
      await playThroughOutage(s, {
        name: 'second database server stopped (pg_ctlcluster stop -m fast)',
        seconds: 10,
        down: () => second!.stop(),
        up: () => second!.start(),
        probes: [
          ['GET', '/api/me/history?limit=5'],
          ['GET', '/api/me/stats'],
        ],
        // Catalog, users and playlists keep their data on the main server.
        unaffected: [
          ['GET', '/api/artists?limit=5'],
          ['GET', '/api/playlists'],
        ],
        probeBudgetMs: 2000,
        playsDuring: 'accepted',
      });
      const main = await s.db.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema IN ('history', 'stats')",
      );
      expect(main.rows[0]!.n).toBe(0);
      expect(pids()).toEqual(before);
    });
  },
);
