import { catalogContract, statsContract } from '../../common/contracts/index.js';
import { TrackCache } from '../../common/contracts/track-cache.js';
import { PeriodicTask } from '../../common/periodic.js';
import { defineService } from '../../common/service.js';
import { PRUNE_INTERVAL_MS, pruneBuckets } from './buckets.js';
import { statsHandlers } from './handlers.js';
import { reportProjection, STATS_MIGRATIONS, statsProjection } from './projections.js';

/**
 * Play, user and playlist statistics and the listening report (schema `stats`): projections of
 * the event log, read over RPC. Report details (artists, albums, genres) come from the catalog, through a cache (TRACK_NAMES_TTL_MS).
 * Each worker prunes the time buckets no read looks at any more (buckets.ts).
 */
export const statsService = defineService({
  name: 'stats',
  contract: statsContract,
  migrations: STATS_MIGRATIONS,
  projections: [statsProjection, reportProjection],
  async setup({ config, pool, rpc, log }) {
    const pruning = new PeriodicTask({
      name: 'pruning old time buckets',
      everyMs: PRUNE_INTERVAL_MS,
      log,
      run: async () => {
        const deleted = await pruneBuckets(pool);
        return Object.values(deleted).some((n) => n > 0) ? deleted : null;
      },
    });
    return {
      handlers: statsHandlers({
        pool,
        tracks: new TrackCache(rpc.bind(catalogContract), config.trackNamesTtlMs),
      }),
      subscribers: {},
      workers: [pruning],
    };
  },
});
