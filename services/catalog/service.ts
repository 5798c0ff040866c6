import { catalogContract } from '../../common/contracts/catalog.js';
import { statsContract } from '../../common/contracts/stats.js';
import { repoPath, sourcePath } from '../../common/paths.js';
import { defineService } from '../../common/service.js';
import { catalogHandlers } from './handlers.js';
import { LibraryWatcher } from './library/index.js';
import { mediaRoot } from './media.js';

/**
 * Artists, albums and tracks: browsing, search, audio file lookup, top tracks joined with stats.
 * With LIBRARY_DIR, one worker at a time keeps that folder imported and watches it.
 */
export const catalogService = defineService({
  name: 'catalog',
  contract: catalogContract,
  migrations: sourcePath(import.meta.url, 'migrations'),
  async setup(deps) {
    const handlers = catalogHandlers({
      db: deps.pool,
      stats: deps.rpc.bind(statsContract),
      mediaRoot: mediaRoot(deps.config),
      // Half our own callers' budget: when stats is down, the caller hears "unavailable" from
      // the catalog instead of timing out on it.
      statsTimeoutMs: Math.max(100, Math.floor(deps.config.rpcTimeoutMs / 2)),
    });
    const folder = deps.config.libraryDir;
    const workers = folder
      ? [
          new LibraryWatcher({
            pool: deps.pool,
            folder: repoPath(folder),
            log: deps.log.child({ module: 'library' }),
            rescanMs: deps.config.libraryRescanMinutes * 60_000,
          }),
        ]
      : [];
    return { handlers, subscribers: {}, workers };
  },
});
