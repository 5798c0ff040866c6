import { catalogContract } from '../../common/contracts/catalog.js';
import { usersContract } from '../../common/contracts/users.js';
import { sourcePath } from '../../common/paths.js';
import { defineService } from '../../common/service.js';
import { usersHandlers } from './handlers.js';
import { loadTokenSecrets } from './secret.js';

export const USERS_MIGRATIONS = sourcePath(import.meta.url, 'migrations');

/** Accounts, passwords, sessions, API keys and stars (schema `users`). */
export const usersService = defineService({
  name: 'users',
  contract: usersContract,
  migrations: USERS_MIGRATIONS,
  // user.registered is written to the outbox with the new user; the relay publishes it.
  outbox: true,
  async setup({ config, pool, rpc }) {
    const handlers = usersHandlers({
      pool,
      secrets: await loadTokenSecrets(config),
      tokenTtlSeconds: config.tokenTtlSeconds,
      catalog: rpc.bind(catalogContract),
    });
    return { handlers, subscribers: {} };
  },
});
