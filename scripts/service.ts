/**
 * Runs one worker of a service: `npm run service -- <name>`. start.sh runs it compiled, as
 * `scripts/run.sh scripts/service <name>`, which execs node, so the pid it records is the
 * process that handles SIGTERM (runService stops taking work, finishes in-flight messages, then
 * exits).
 */
import { SYSTEM } from '../common/contracts/index.js';
import { runService } from '../common/index.js';
import { isServiceName, loadService, SERVICE_NAMES } from './services.js';

const name = process.argv[2];
if (!isServiceName(name)) {
  console.error(`usage: npm run service -- <${SERVICE_NAMES.join('|')}>`);
  process.exit(2);
}
process.env.SERVICE_NAME ??= name;
await runService(await loadService(name), SYSTEM);
