import { runService } from '../../common/index.js';
import { historyService } from './service.js';

await runService(historyService);
