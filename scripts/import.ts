/**
 * Imports a folder of your own music into the catalog, in place: `npm run import -- <folder>`.
 * Reads tags from mp3/flac/ogg/opus/m4a/wav files (or names from an Artist/Album/NN Title
 * layout); a second run reads only files that are new or changed (size, modification time)
 * and removes tracks whose files are gone. With `--watch` it then keeps watching the folder.
 */
import { config, createLogger, createPool, databaseUrlFor, migrate } from '../common/index.js';
import {
  catalogService,
  type ImportSummary,
  importFolder,
  LibraryWatcher,
  ProgressBar,
} from '../services/catalog/index.js';

const USAGE = 'usage: npm run import -- <folder> [--watch]';

function describe(s: ImportSummary): string {
  const t = s.tracks;
  const lines = [
    `${s.found.toLocaleString('en')} audio files in ${(s.elapsedMs / 1000).toFixed(1)} s: ` +
      `${t.unchanged.toLocaleString('en')} unchanged (not read), ${s.read.toLocaleString('en')} read ` +
      `(${Math.round((s.read * 1000) / Math.max(1, s.elapsedMs))} files/s)`,
    `tracks: ${t.inserted} new, ${t.updated} updated, ${s.removed.tracks} removed` +
      (s.revived > 0 ? `, ${s.revived} moved or restored (ids kept)` : ''),
    `albums: ${s.albums.inserted} new, ${s.removed.albums} removed; ` +
      `artists: ${s.artists.inserted} new, ${s.removed.artists} removed`,
  ];
  if (s.playlists.published + s.playlists.removed > 0) {
    lines.push(
      `playlist files: ${s.playlists.published} published to the playlists service, ${s.playlists.removed} removed`,
    );
  }
  if (s.skipped.length + s.stillUnreadable + s.ignored > 0) {
    lines.push(
      `${s.skipped.length} unreadable files skipped` +
        (s.stillUnreadable > 0 ? `, ${s.stillUnreadable} unreadable as before (unchanged, not tried)` : '') +
        `, ${s.ignored} other files ignored`,
    );
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const watch = args.includes('--watch');
  const rest = args.filter((a) => a !== '--watch');
  if (rest.length !== 1 || rest[0]!.startsWith('-')) {
    console.error(USAGE);
    process.exit(2);
  }
  const folder = rest[0]!;
  const cfg = config();
  const pool = createPool({
    url: databaseUrlFor(cfg, catalogService.name),
    schema: catalogService.name,
    max: 3,
    applicationName: 'import',
  });
  try {
    await migrate(pool, catalogService.name, catalogService.migrations!);
    if (!watch) {
      const bar = new ProgressBar(process.stderr, 'reading tags');
      const s = await importFolder(pool, folder, {
        print: (line) => {
          bar.end();
          console.log(line);
        },
        progress: (done, total) => bar.update(done, total),
      });
      bar.end();
      console.log(describe(s));
      return;
    }
    const watcher = new LibraryWatcher({
      pool,
      folder,
      log: createLogger('import').child({ module: 'library' }),
      rescanMs: cfg.libraryRescanMinutes * 60_000,
      onImport: (s, paths) => {
        if (paths === 'all' || s.read + s.removed.tracks > 0) console.log(describe(s));
      },
    });
    console.log(`watching ${folder} (Ctrl-C to stop)`);
    await watcher.start();
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await watcher.stop();
  } finally {
    await pool.end();
  }
}

main().catch((err: unknown) => {
  console.error(`import: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
