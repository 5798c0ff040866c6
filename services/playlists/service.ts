import { catalogContract, playlistsContract, usersContract } from '../../common/contracts/index.js';
import { defineService } from '../../common/index.js';
import { playlistFileSubscribers } from './files.js';
import { playlistsHandlers } from './handlers.js';
import { listeningProjection, PLAYLISTS_MIGRATIONS } from './listening.js';

/**
 * Users' playlists (schema `playlists`); track details come from the catalog over RPC. Smart
 * playlists read their owner's plays from the `listening` projection of the event log.
 */
export const playlistsService = defineService({
  name: 'playlists',
  contract: playlistsContract,
  migrations: PLAYLISTS_MIGRATIONS,
  projections: [listeningProjection],
  // playlist.changed is written to the outbox with each change; the relay publishes it.
  outbox: true,
  async setup({ pool, rpc }) {
    const users = rpc.bind(usersContract);
    return {
      handlers: playlistsHandlers({
        pool,
        catalog: rpc.bind(catalogContract),
        users,
      }),
      // The catalog's playlist files become playlists (services/playlists/files.ts).
      subscribers: playlistFileSubscribers({ pool, users }),
    };
  },
});
