import { catalogContract } from '../../common/contracts/catalog.js';
import { playlistsContract } from '../../common/contracts/playlists.js';
import { sourcePath } from '../../common/paths.js';
import { defineService } from '../../common/service.js';
import { playlistsHandlers } from './handlers.js';

/** Users' playlists (schema `playlists`); track details come from the catalog over RPC. */
export const playlistsService = defineService({
  name: 'playlists',
  contract: playlistsContract,
  migrations: sourcePath(import.meta.url, 'migrations'),
  // playlist.changed is written to the outbox with each change; the relay publishes it.
  outbox: true,
  async setup({ pool, rpc }) {
    return { handlers: playlistsHandlers({ pool, catalog: rpc.bind(catalogContract) }), subscribers: {} };
  },
});
