import { catalogContract } from '../../common/contracts/catalog.js';
import { usersContract } from '../../common/contracts/users.js';
import { sourcePath } from '../../common/paths.js';
import { PeriodicTask } from '../../common/periodic.js';
import { defineService } from '../../common/service.js';
import { usersHandlers } from './handlers.js';
import { NOW_PLAYING_LIMITS, pruneNowPlaying } from './now-playing.js';
import { loadTokenSecrets } from './secret.js';

export const USERS_MIGRATIONS = sourcePath(import.meta.url, 'migrations');

/** Accounts, passwords, sessions, API keys and stars (schema `users`). */
export const usersService = defineService({
  name: 'users',
  contract: usersContract,
  migrations: USERS_MIGRATIONS,
  // user.registered is written to the outbox with the new user; the relay publishes it.
  outbox: true,
  async setup({ config, pool, rpc, log }) {
    const handlers = usersHandlers({
      pool,
      secrets: await loadTokenSecrets(config),
      tokenTtlSeconds: config.tokenTtlSeconds,
      catalog: rpc.bind(catalogContract),
    });
    const pruning = new PeriodicTask({
      name: 'pruning now-playing entries',
      everyMs: NOW_PLAYING_LIMITS.pruneMs,
      log,
      run: async () => {
        const deleted = await pruneNowPlaying(pool);
        return deleted > 0 ? { deleted } : null;
      },
    });
    return { handlers, subscribers: {}, workers: [pruning] };
  },
});
