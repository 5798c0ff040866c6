import { defineSystem } from '../system.js';
import { catalogContract } from './catalog.js';
import { historyContract } from './history.js';
import { playlistsContract } from './playlists.js';
import { statsContract } from './stats.js';
import { usersContract } from './users.js';

export * from './catalog.js';
export * from './events.js';
export * from './history.js';
export * from './playlists.js';
export * from './plays.js';
export * from './shared.js';
export * from './stats.js';
export * from './users.js';

/** The services of the music system: their methods, who may call each, and the events each consumes. */
export const SYSTEM = defineSystem([
  catalogContract,
  usersContract,
  playlistsContract,
  historyContract,
  statsContract,
]);
