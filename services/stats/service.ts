import { catalogContract, statsContract } from '../../common/contracts/index.js';
import { defineService } from '../../common/service.js';
import { statsHandlers } from './handlers.js';
import { reportProjection, STATS_MIGRATIONS, statsProjection } from './projections.js';

/**
 * Play, user and playlist statistics and the listening report (schema `stats`): projections of
 * the event log, read over RPC. Report details (artists, albums, genres) come from the catalog.
 */
export const statsService = defineService({
  name: 'stats',
  contract: statsContract,
  migrations: STATS_MIGRATIONS,
  projections: [statsProjection, reportProjection],
  async setup({ pool, rpc }) {
    return { handlers: statsHandlers({ pool, catalog: rpc.bind(catalogContract) }), subscribers: {} };
  },
});
