/**
 * `npm run bench -- <name>`: runs one benchmark and prints its result as the last line of
 * stdout, one JSON object. Progress goes to stderr.
 */
import { runCatalogBench } from './catalog.js';
import { runDatascaleBench } from './datascale.js';
import { runEventsBench } from './events.js';
import { runFreshnessBench } from './freshness.js';
import { runGatewayBench } from './gateway.js';
import { runHttpBench } from './http.js';
import { runImportBench } from './import.js';
import { runMemoryBench } from './memory.js';
import { runPlayerBench } from './player.js';
import { runPlaysBench } from './plays.js';
import { runProjectionsBench } from './projections.js';
import { runReplayBench } from './replay.js';
import { runRpcBench } from './rpc.js';
import { runScaleBench } from './scale.js';

const benches: Record<string, () => Promise<Record<string, unknown>>> = {
  rpc: runRpcBench,
  events: runEventsBench,
  gateway: runGatewayBench,
  plays: runPlaysBench,
  scale: runScaleBench,
  memory: runMemoryBench,
  http: runHttpBench,
  replay: runReplayBench,
  projections: runProjectionsBench,
  freshness: runFreshnessBench,
  datascale: runDatascaleBench,
  import: () => runImportBench(),
  catalog: runCatalogBench,
  player: runPlayerBench,
};

const name = process.argv[2];
const bench = name ? benches[name] : undefined;
if (!bench) {
  process.stderr.write(`usage: npm run bench -- <${Object.keys(benches).join('|')}>\n`);
  process.exit(2);
}
const result = await bench();
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(0);
