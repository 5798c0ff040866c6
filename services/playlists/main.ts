import { runService } from '../../common/service.js';
import { playlistsService } from './service.js';

await runService(playlistsService);
