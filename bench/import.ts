/**
 * `npm run bench -- import`: the library import at size. Generates a tagged library
 * (BENCH_IMPORT_FILES files, 100,000 by default; bench/library.ts), reads every file with
 * music-metadata alone (the floor: the same parse options, 16 files in flight on one thread),
 * imports the folder into a catalog of its own (`npm run import`'s code), then imports it
 * again unchanged. `import_ratio` is the import's files per second over music-metadata's alone
 * (the issue asks 0.8 or more); `rescan_speedup` is the first import's time over the second's
 * (10 or more). The catalog benchmark calls `runImportBench` with its own catalog's pool.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseFile } from 'music-metadata';
import { createPool, migrate, type Pool } from '../common/index.js';
import { catalogService, importFolder } from '../services/catalog/index.js';
import { PARSE_OPTIONS } from '../services/catalog/library/tags.js';
import { createDatabase, databaseUrl, dropDatabase } from '../test/support/local-infra.js';
import { note, round } from './lib.js';
import { generateLibrary } from './library.js';

export interface ImportBenchOptions {
  /** Files in the library (default BENCH_IMPORT_FILES, or 100,000). */
  files?: number;
  /** A pool on a migrated catalog schema to import into; default a database of the benchmark's own. */
  pool?: Pool;
}

export async function runImportBench(opts: ImportBenchOptions = {}): Promise<Record<string, unknown>> {
  const files = opts.files ?? Number(process.env.BENCH_IMPORT_FILES ?? 100_000);
  if (!Number.isInteger(files) || files < 10)
    throw new Error('BENCH_IMPORT_FILES should be an integer of 10 or more');
  const folder = await mkdtemp(join(tmpdir(), 'bench-library-'));
  const database = opts.pool ? null : `bench_import_${randomBytes(3).toString('hex')}`;
  let pool = opts.pool;
  try {
    if (database) {
      await createDatabase(database);
      pool = createPool({ url: databaseUrl(database), schema: catalogService.name, max: 3 });
      await migrate(pool, catalogService.name, catalogService.migrations!);
    }
    note(`generating ${files.toLocaleString('en')} tagged files in ${folder}`);
    let started = performance.now();
    const library = await generateLibrary({
      dir: folder,
      files,
      onProgress: (n) => {
        if (n % 10_000 === 0) note(`  ${n.toLocaleString('en')} files`);
      },
    });
    const generateMs = performance.now() - started;

    note('music-metadata alone over every file');
    const paths = library.map((f) => join(folder, f.path));
    started = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < paths.length) await parseFile(paths[next++]!, PARSE_OPTIONS);
      }),
    );
    const floorMs = performance.now() - started;

    note('import');
    const first = await importFolder(pool!, folder);
    if (first.tracks.inserted !== files) {
      throw new Error(
        `the import wrote ${first.tracks.inserted} tracks of ${files} (${first.skipped.length} skipped)`,
      );
    }
    note('import again, unchanged');
    const second = await importFolder(pool!, folder);
    if (second.read !== 0) throw new Error(`the rescan read ${second.read} files again`);

    const floorRate = files / (floorMs / 1000);
    const importRate = files / (first.elapsedMs / 1000);
    return {
      bench: 'import',
      files,
      formats: [...new Set(library.map((f) => f.format))],
      generate_s: round(generateMs / 1000, 1),
      music_metadata_files_per_s: Math.round(floorRate),
      import_files_per_s: Math.round(importRate),
      import_s: round(first.elapsedMs / 1000, 1),
      import_ratio: round(importRate / floorRate),
      rescan_s: round(second.elapsedMs / 1000, 2),
      rescan_speedup: round(first.elapsedMs / second.elapsedMs, 1),
      load_avg: loadavg().map((l) => round(l)),
    };
  } finally {
    await rm(folder, { recursive: true, force: true });
    if (database) {
      await pool?.end();
      await dropDatabase(database);
    }
  }
}
