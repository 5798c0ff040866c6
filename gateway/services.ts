import { catalogContract } from '../common/contracts/catalog.js';
import { historyContract } from '../common/contracts/history.js';
import { playlistsContract } from '../common/contracts/playlists.js';
import { statsContract } from '../common/contracts/stats.js';
import { usersContract } from '../common/contracts/users.js';
import { isAppError } from '../common/errors.js';
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

/** The value of `lookup`, or undefined when what it looks up does not exist. */
export async function ifFound<T>(lookup: Promise<T>): Promise<T | undefined> {
  try {
    return await lookup;
  } catch (err) {
    if (isAppError(err, 'NOT_FOUND')) return undefined;
    throw err;
  }
}
