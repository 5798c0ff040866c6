import { catalogContract, statsContract } from '../../common/contracts/index.js';
import { defineService, repoPath, sourcePath } from '../../common/index.js';
import { catalogHandlers } from './handlers.js';
import { adoptLibraryFolder, forgetUsers } from './libraries.js';
import { LibraryFolders } from './library/folders.js';
import { LibraryWatcher } from './library/index.js';
import { mediaRoot } from './media.js';

/**
 * Artists, albums and tracks: browsing, search, audio file lookup, top tracks joined with stats.
 * Each library folder (LIBRARY_DIR is library 1's; admins add others) is kept imported and
 * watched by one worker at a time.
 */
export const catalogService = defineService({
  name: 'catalog',
  contract: catalogContract,
  migrations: sourcePath(import.meta.url, 'migrations'),
  // playlist-file.changed / .removed are written to the outbox by the import; the relay publishes them.
  outbox: true,
  async setup(deps) {
    const folder = deps.config.libraryDir ? repoPath(deps.config.libraryDir) : undefined;
    if (folder) await adoptLibraryFolder(deps.pool, folder);
    const rescanMs = deps.config.libraryRescanMinutes * 60_000;
    const log = deps.log.child({ module: 'library' });
    const folders = new LibraryFolders({
      pool: deps.pool,
      log,
      rescanMs,
      ...(folder ? { skip: folder } : {}),
    });
    const handlers = catalogHandlers({
      db: deps.pool,
      stats: deps.rpc.bind(statsContract),
      mediaRoot: mediaRoot(deps.config),
      // Half our own callers' budget: when stats is down, the caller hears "unavailable" from
      // the catalog instead of timing out on it.
      statsTimeoutMs: Math.max(100, Math.floor(deps.config.rpcTimeoutMs / 2)),
      onLibrariesChanged: () => void folders.refresh(),
    });
    // LIBRARY_DIR is library 1's folder, watched as before; the folders of libraries added
    // since are watched by `folders`.
    const workers = [
      ...(folder ? [new LibraryWatcher({ pool: deps.pool, folder, log, rescanMs })] : []),
      folders,
    ];
    return {
      handlers,
      subscribers: {
        // A scope the catalog keeps for a deleted user expires within seconds; nobody calls as them.
        usersDeleted: async (events) =>
          forgetUsers(deps.pool, [...new Set(events.map((e) => e.data.userId))]),
      },
      workers,
    };
  },
});
