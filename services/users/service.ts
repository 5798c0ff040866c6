import { fileURLToPath } from 'node:url';
import { usersContract } from '../../common/contracts/users.js';
import { RpcServer } from '../../common/rpc/server.js';
import type { ServiceDefinition } from '../../common/service.js';
import { usersHandlers } from './handlers.js';

export const USERS_MIGRATIONS = fileURLToPath(new URL('./migrations', import.meta.url));

/** Accounts, passwords and session tokens (schema `users`). */
export const usersService: ServiceDefinition = {
  name: 'users',
  migrations: USERS_MIGRATIONS,
  async setup({ config, log, broker, pool }) {
    const handlers = usersHandlers({
      pool,
      tokenSecret: config.tokenSecret,
      tokenTtlSeconds: config.tokenTtlSeconds,
    });
    const server = new RpcServer({
      broker,
      contract: usersContract,
      handlers,
      logger: log,
      prefetch: config.prefetch,
    });
    // user.registered is written to the outbox with the new user; the relay publishes it.
    return { server, outbox: true };
  },
};
