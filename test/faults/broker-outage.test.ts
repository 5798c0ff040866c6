import { describe, it } from 'vitest';
import { useSystem } from './helpers.js';
import { playThroughOutage, proxyCut } from './outage.js';

describe('broker outage (the system reaches RabbitMQ through a proxy that is cut for 5 s)', () => {
  const system = useSystem({ label: 'fbroker' });

  it('keeps every accepted play, counts each once, and fails RPC fast meanwhile', async () => {
    const s = system();
    await playThroughOutage(s, {
      name: 'broker outage (proxy cut)',
      seconds: 5,
      ...proxyCut(s.amqpProxy),
      probes: [
        ['GET', '/api/me/history?limit=5'],
        ['GET', '/api/artists?limit=5'],
      ],
      probeBudgetMs: 1000,
      playsDuring: 'refused',
    });
  });
});
