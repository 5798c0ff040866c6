export * from './catalog.js';
export * from './events.js';
export * from './history.js';
export * from './playlists.js';
export * from './shared.js';
export * from './stats.js';
export * from './users.js';
