import { runService } from '../../common/service.js';
import { usersService } from './service.js';

await runService(usersService);
