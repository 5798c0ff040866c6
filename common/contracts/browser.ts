/**
 * The contracts' entry for the web player's browser bundle: the rules it runs itself, which need
 * no Node module. Its types come from index.ts as `import type` (erased at build); index.ts itself
 * reaches Node's crypto through the event definitions, so a browser cannot load it.
 */
export * from './kept-play.js';
export * from './replay-gain.js';
