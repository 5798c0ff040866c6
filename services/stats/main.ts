import { runService } from '../../common/index.js';
import { statsService } from './service.js';

await runService(statsService);
