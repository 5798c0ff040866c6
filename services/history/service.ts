import { catalogContract, historyContract } from '../../common/contracts/index.js';
import { sourcePath } from '../../common/paths.js';
import { defineService } from '../../common/service.js';
import { historyHandlers } from './handlers.js';
import { storePlays } from './store.js';

const CATALOG_TIMEOUT_MS = 1000;

/** The play log (schema `history`): every play stored once, the caller's recent plays. */
export const historyService = defineService({
  name: 'history',
  contract: historyContract,
  migrations: sourcePath(import.meta.url, 'migrations'),
  async setup({ config, pool, rpc }) {
    const handlers = historyHandlers({
      pool,
      catalog: rpc.bind(catalogContract),
      catalogTimeoutMs: Math.min(CATALOG_TIMEOUT_MS, config.rpcTimeoutMs),
    });
    return {
      handlers,
      subscribers: {
        plays: async (events) => {
          await storePlays(pool, events);
        },
      },
    };
  },
});
