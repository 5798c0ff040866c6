import { SYSTEM } from '../common/contracts/index.js';
import { runService } from '../common/index.js';
import { gatewayService } from './server.js';

/** The gateway process: start, and on SIGINT/SIGTERM stop accepting, finish requests, close. */
await runService(gatewayService(), SYSTEM);
