import { catalogContract, statsContract, TrackCache } from '../../common/contracts/index.js';
import {
  defineService,
  logPartitionEnds,
  type PartitionStanding,
  PeriodicTask,
  projectionStandings,
  SharedAnswers,
} from '../../common/index.js';
import { PRUNE_INTERVAL_MS, pruneBuckets } from './buckets.js';
import { statsHandlers } from './handlers.js';
import { reportProjection, STATS_MIGRATIONS, statsProjection } from './projections.js';

/**
 * How long one look at the projections' standings answers every projectionLag call (reading
 * the log's ends reads the newest chunk of every partition: about half a second).
 */
const STANDINGS_MS = 5000;

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
  async setup({ config, pool, rpc, log, broker, schema }) {
    const pruning = new PeriodicTask({
      name: 'pruning old time buckets',
      everyMs: PRUNE_INTERVAL_MS,
      log,
      run: async () => {
        const deleted = await pruneBuckets(pool);
        return Object.values(deleted).some((n) => n > 0) ? deleted : null;
      },
    });
    // Shared by every projectionLag call for up to STANDINGS_MS.
    const standings = new SharedAnswers<'all', PartitionStanding[]>(STANDINGS_MS);
    return {
      handlers: statsHandlers({
        pool,
        tracks: new TrackCache(rpc.bind(catalogContract), config.trackNamesTtlMs),
        charts: new SharedAnswers(config.statsChartsMaxAgeMs),
        standings: () =>
          standings.get('all', async () => {
            const ends = await logPartitionEnds(broker, config.eventLogPartitions, pool);
            const all = await Promise.all(
              [statsProjection, reportProjection].map((p) => projectionStandings(pool, schema, p.name, ends)),
            );
            return all.flat();
          }),
      }),
      subscribers: {},
      workers: [pruning],
    };
  },
});
