import { fileURLToPath } from 'node:url';
import { statsContract } from '../../common/contracts/index.js';
import { defineService } from '../../common/service.js';
import { statsSubscribers } from './consumers.js';
import { statsHandlers } from './handlers.js';

export const STATS_MIGRATIONS = fileURLToPath(new URL('./migrations', import.meta.url));

/** Play, user and playlist statistics (schema `stats`), counted from events. */
export const statsService = defineService({
  name: 'stats',
  contract: statsContract,
  migrations: STATS_MIGRATIONS,
  async setup({ pool }) {
    return { handlers: statsHandlers(pool), subscribers: statsSubscribers(pool) };
  },
});
