import { catalogContract, historyContract, TrackCache } from '../../common/contracts/index.js';
import { dedupWindowMs, defineService, PeriodicTask, sourcePath } from '../../common/index.js';
import { historyHandlers } from './handlers.js';
import { MAINTENANCE_INTERVAL_MS, maintainPlayLog } from './partitions.js';
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
      tracks: new TrackCache(rpc.bind(catalogContract), config.trackNamesTtlMs, {
        timeoutMs: Math.min(CATALOG_TIMEOUT_MS, config.rpcTimeoutMs),
      }),
    });
    const policy = {
      retentionMonths: config.playLogRetentionMonths,
      playMaxAgeDays: config.playMaxAgeDays,
      dedupWindowMs: dedupWindowMs(config),
    };
    const maintenance = new PeriodicTask({
      name: 'play log maintenance',
      everyMs: MAINTENANCE_INTERVAL_MS,
      log,
      run: async () => {
        const done = await maintainPlayLog(pool, policy);
        const changed = done && (done.created.length > 0 || done.dropped.length > 0 || done.forgottenIds > 0);
        return changed ? { ...done } : null;
      },
    });
    // Once before the consumers start, so a month's partition exists before its plays arrive.
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
