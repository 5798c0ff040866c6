import { runService } from '../../common/index.js';
import { catalogService } from './service.js';

await runService(catalogService);
