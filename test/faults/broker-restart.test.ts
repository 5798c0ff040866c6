import { describe, it } from 'vitest';
import { rabbitmqctl } from '../support/env.js';
import { useSystem } from './helpers.js';
import { playThroughOutage } from './outage.js';

/**
 * Stops the real broker, which every other user of this RabbitMQ would feel too: it runs only
 * where nothing else does (CI sets FAULTS_REAL_BROKER=1).
 */
const REAL = process.env.FAULTS_REAL_BROKER === '1';

if (!REAL) {
  console.log(
    '[faults] real broker restart skipped: it stops the shared RabbitMQ; set FAULTS_REAL_BROKER=1 to run it',
  );
}

describe.skipIf(!REAL)('real broker restart (rabbitmqctl stop_app, 5 s, start_app)', () => {
  const system = useSystem({ label: 'frestart' });

  it('keeps every accepted play, counts each once, and fails RPC fast meanwhile', async () => {
    let stopped = false;
    try {
      await playThroughOutage(system(), {
        name: 'real broker restart',
        seconds: 5,
        down: async () => {
          stopped = true;
          await rabbitmqctl(['stop_app']);
        },
        up: async () => {
          await rabbitmqctl(['start_app']);
          await rabbitmqctl(['await_startup']);
          stopped = false;
        },
        probes: [
          ['GET', '/api/me/history?limit=5'],
          ['GET', '/api/artists?limit=5'],
        ],
        probeBudgetMs: 1000,
        playsDuring: 'refused',
      });
    } finally {
      // Whatever happened, the broker is left running.
      if (stopped) await rabbitmqctl(['start_app']);
    }
  });
});
