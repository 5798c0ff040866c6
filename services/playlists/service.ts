import { fileURLToPath } from 'node:url';
import { catalogContract } from '../../common/contracts/catalog.js';
import { playlistsContract } from '../../common/contracts/playlists.js';
import { RpcServer } from '../../common/rpc/server.js';
import type { ServiceDefinition } from '../../common/service.js';
import { playlistsHandlers } from './handlers.js';

/** Users' playlists (schema `playlists`); track details come from the catalog over RPC. */
export const playlistsService: ServiceDefinition = {
  name: 'playlists',
  migrations: fileURLToPath(new URL('./migrations', import.meta.url)),
  async setup({ config, log, broker, pool, rpc }) {
    const handlers = playlistsHandlers({ pool, catalog: rpc.bind(catalogContract) });
    const server = new RpcServer({
      broker,
      contract: playlistsContract,
      handlers,
      logger: log,
      prefetch: config.prefetch,
    });
    // playlist.changed is written to the outbox with each change; the relay publishes it.
    return { server, outbox: true };
  },
};
