import { catalogContract, historyContract } from '../../common/contracts/index.js';
import { sourcePath } from '../../common/paths.js';
import { dedupWindowMs, defineService } from '../../common/service.js';
import { historyHandlers } from './handlers.js';
import { PlayLogMaintenance } from './partitions.js';
import { storePlays } from './store.js';

const CATALOG_TIMEOUT_MS = 1000;

/**
 * The play log (schema `history`): every play stored once, the caller's recent plays; its
 * monthly partitions are made ahead and dropped past PLAY_LOG_RETENTION (partitions.ts).
 */
export const historyService = defineService({
  name: 'history',
  contract: historyContract,
  migrations: sourcePath(import.meta.url, 'migrations'),
  async setup({ config, pool, rpc, log }) {
    const handlers = historyHandlers({
      pool,
      catalog: rpc.bind(catalogContract),
      catalogTimeoutMs: Math.min(CATALOG_TIMEOUT_MS, config.rpcTimeoutMs),
    });
    const maintenance = new PlayLogMaintenance(
      pool,
      {
        retentionMonths: config.playLogRetentionMonths,
        playMaxAgeDays: config.playMaxAgeDays,
        dedupWindowMs: dedupWindowMs(config),
      },
      log,
    );
    await maintenance.run();
    return {
      handlers,
      workers: [maintenance],
      subscribers: {
        plays: async (events) => {
          await storePlays(pool, events);
        },
      },
    };
  },
});
