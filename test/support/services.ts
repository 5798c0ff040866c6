import type { Logger } from 'pino';
import type { Config } from '../../common/config.js';
import { SYSTEM } from '../../common/contracts/index.js';
import { type RunningService, type ServiceDefinition, startService } from '../../common/service.js';
import { catalogService } from '../../services/catalog/service.js';
import { historyService } from '../../services/history/service.js';
import { playlistsService } from '../../services/playlists/service.js';
import { scrobblerService } from '../../services/scrobbler/service.js';
import { statsService } from '../../services/stats/service.js';
import { usersService } from '../../services/users/service.js';
import { silentLogger } from './env.js';

/** Every service's definition (scripts/services.ts loads them by a dynamic import vitest cannot follow). */
export const SERVICE_DEFINITIONS: readonly ServiceDefinition[] = [
  catalogService,
  usersService,
  playlistsService,
  historyService,
  statsService,
  scrobblerService,
];

/** One worker of every service in this process, in namespace `ns`, each in its own schema `<ns>_<service>`. */
export async function startAllServices(
  config: Config,
  ns: string,
  logger: Logger = silentLogger,
): Promise<RunningService[]> {
  const running: RunningService[] = [];
  for (const def of SERVICE_DEFINITIONS) {
    running.push(
      await startService(def, { system: SYSTEM, config, logger, namespace: ns, schema: `${ns}_${def.name}` }),
    );
  }
  return running;
}
