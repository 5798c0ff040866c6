import { fileURLToPath } from 'node:url';
import { statsContract } from '../../common/contracts/index.js';
import { RpcServer, type ServiceDefinition } from '../../common/index.js';
import { statsConsumers } from './consumers.js';
import { statsHandlers } from './handlers.js';

export const STATS_MIGRATIONS = fileURLToPath(new URL('./migrations', import.meta.url));

export const statsService: ServiceDefinition = {
  name: 'stats',
  migrations: STATS_MIGRATIONS,
  async setup(deps) {
    const server = new RpcServer({
      broker: deps.broker,
      contract: statsContract,
      handlers: statsHandlers(deps.pool),
      logger: deps.log,
      prefetch: deps.config.prefetch,
    });
    return { server, consumers: statsConsumers(deps) };
  },
};
