/**
 * Where a replay's time goes: BENCH_PROJ_EVENTS plays (default 24 000) in the partitioned log,
 * `replayProjection` of stats and report with their phases, beside a raw read, a few rounds.
 *   flock /tmp/music-bench.lock npx tsx bench/replay-phases.ts
 */
import { replayProjection, translateDatabaseError } from '../common/index.js';
import { reportProjection, statsProjection } from '../services/stats/projections.js';
import { playEnvelope } from '../test/support/plays.js';
import { note, pool, quiet } from './lib.js';
import { rawRead, withReplayLog } from './replay.js';

const EVENTS = Number(process.env.BENCH_PROJ_EVENTS ?? 24_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

await withReplayLog('phases', async (log) => {
  const now = Date.now();
  await pool(EVENTS, 500, (n) =>
    log.publisher.publishEnvelope(
      playEnvelope(`u${(n * 7919) % 2000}`, `tr${n % 200}`, new Date(now - (n % 86_400) * 1000), 60_000),
    ),
  );
  for (let r = 0; r < ROUNDS; r++) {
    for (const projection of [statsProjection, reportProjection]) {
      const result = await replayProjection({
        projection,
        broker: log.broker,
        databaseUrl: log.url,
        schema: 'stats',
        partitions: log.cfg.eventLogPartitions,
        logger: quiet,
        translateError: translateDatabaseError,
        restart: true,
        ...(process.env.RC ? { concurrency: Number(process.env.RC) } : {}),
        ...(process.env.RB ? { batchSize: Number(process.env.RB) } : {}),
      });
      note(
        `${projection.name}: ${result.durationMs} ms ${JSON.stringify(result.phases)} applied ${result.applied}`,
      );
    }
    const raw = await rawRead(log.ns, log.cfg.eventLogPartitions, EVENTS);
    note(`raw read: ${Math.round((EVENTS / raw) * 1000)} ms`);
  }
});
process.exit(0);
