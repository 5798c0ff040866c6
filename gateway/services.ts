import { catalogContract } from '../common/contracts/catalog.js';
import { historyContract } from '../common/contracts/history.js';
import { playlistsContract } from '../common/contracts/playlists.js';
import { statsContract } from '../common/contracts/stats.js';
import { usersContract } from '../common/contracts/users.js';
import type { RpcClient, ServiceClient } from '../common/rpc/client.js';

/** Typed clients of the services the gateway's routes call. */
export interface Services {
  catalog: ServiceClient<typeof catalogContract>;
  users: ServiceClient<typeof usersContract>;
  playlists: ServiceClient<typeof playlistsContract>;
  history: ServiceClient<typeof historyContract>;
  stats: ServiceClient<typeof statsContract>;
}

export function bindServices(rpc: RpcClient): Services {
  return {
    catalog: rpc.bind(catalogContract),
    users: rpc.bind(usersContract),
    playlists: rpc.bind(playlistsContract),
    history: rpc.bind(historyContract),
    stats: rpc.bind(statsContract),
  };
}
