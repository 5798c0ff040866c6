export {
  type ImportOptions,
  type ImportSummary,
  importFolder,
  LibraryWatcher,
  ProgressBar,
} from './library/index.js';
export { mediaRoot } from './media.js';
export { describeSeed, type SeedReport, seedCatalog } from './seed/seed.js';
export { catalogService } from './service.js';
export { normalizeText } from './text.js';
