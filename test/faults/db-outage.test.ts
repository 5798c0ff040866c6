import { describe, expect, it } from 'vitest';
import { useSystem } from './helpers.js';
import { playThroughOutage, proxyCut } from './outage.js';

describe('database outage (the system reaches PostgreSQL through a proxy that is cut for 10 s)', () => {
  const system = useSystem({ label: 'fdb' });

  it('accepts plays meanwhile, stores and counts each once after, answers 503, and no worker restarts', async () => {
    const s = system();
    const pids = () => s.procs.filter((p) => !p.exit).map((p) => `${p.label}:${p.pid}`);
    const before = pids();
    await playThroughOutage(s, {
      name: 'database outage (proxy cut)',
      seconds: 10,
      ...proxyCut(s.dbProxy),
      // Each needs a different service's database.
      probes: [
        ['GET', '/api/me/history?limit=5'],
        ['GET', '/api/artists?limit=5'],
        ['GET', '/api/me/stats'],
        ['GET', '/api/playlists'],
      ],
      probeBudgetMs: 2000,
      playsDuring: 'accepted',
    });
    expect(pids()).toEqual(before);
  });
});
