import { defineSystem } from '../system.js';
import { catalogContract } from './catalog.js';
import { historyContract } from './history.js';
import { playlistsContract } from './playlists.js';
import { scrobblerContract } from './scrobbler.js';
import { statsContract } from './stats.js';
import { usersContract } from './users.js';

export * from './catalog.js';
export * from './events.js';
export * from './history.js';
export * from './kept-play.js';
export * from './playlists.js';
export * from './plays.js';
export * from './replay-gain.js';
export * from './scrobbler.js';
export * from './shared.js';
export * from './shares.js';
export * from './smart.js';
export * from './stats.js';
export * from './track-cache.js';
export * from './users.js';

/**
 * The services of the music system, in start order: the one list of them. Everything that
 * names every service (scripts/services.ts, the gateway's clients, start.sh's supervisor, the
 * tests' and benchmarks' systems) derives it from here; test/system-list.test.ts checks the
 * copies that cannot import it (docker-compose.yml, config's database URLs, the docs).
 */
export const CONTRACTS = [
  catalogContract,
  usersContract,
  playlistsContract,
  historyContract,
  statsContract,
  scrobblerContract,
] as const;
export type ServiceName = (typeof CONTRACTS)[number]['service'];
export const SERVICE_NAMES: readonly ServiceName[] = CONTRACTS.map((c) => c.service);

/** The services of the music system: their methods, who may call each, and the events each consumes. */
export const SYSTEM = defineSystem(CONTRACTS);
