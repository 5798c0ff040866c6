export { IMPORT_BATCH, type ImportOptions, type ImportSummary, importFolder } from './import.js';
export { ProgressBar } from './progress.js';
export { LibraryWatcher, type WatchOptions } from './watch.js';
