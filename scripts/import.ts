/**
 * Imports a folder of your own music into the catalog, in place: `npm run import -- <folder>`.
 * Reads tags from mp3/flac/ogg/opus/m4a/wav files (or names from an Artist/Album/NN Title
 * layout), skips unreadable files with the reason, and can be re-run safely.
 */
import { config, createPool, databaseUrlFor, migrate } from '../common/index.js';
import { catalogService, importFolder } from '../services/catalog/index.js';

async function main(): Promise<void> {
  const folder = process.argv[2];
  if (!folder || process.argv.length > 3) {
    console.error('usage: npm run import -- <folder>');
    process.exit(2);
  }
  const pool = createPool({
    url: databaseUrlFor(config(), catalogService.name),
    schema: catalogService.name,
    max: 2,
    applicationName: 'import',
  });
  try {
    await migrate(pool, catalogService.name, catalogService.migrations!);
    const s = await importFolder(pool, folder, (line) => console.log(line));
    console.log(
      `imported ${s.found - s.skipped.length} of ${s.found} audio files: ` +
        `${s.tracks.inserted} new, ${s.tracks.updated} updated, ${s.tracks.unchanged} unchanged tracks; ` +
        `${s.albums.inserted} new albums, ${s.artists.inserted} new artists; ` +
        `${s.skipped.length} skipped, ${s.ignored} other files ignored`,
    );
  } finally {
    await pool.end();
  }
}

main().catch((err: unknown) => {
  console.error(`import: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
