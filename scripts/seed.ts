/**
 * Seeds the catalog (artists, albums, tracks and their generated audio under MEDIA_DIR) and
 * the demo user: `npm run seed`. Runs the catalog and users migrations first. Idempotent:
 * a second run changes nothing.
 */
import { config, createPool, databaseUrlFor, migrate, type Pool } from '../common/index.js';
import { catalogService, describeSeed, mediaRoot, seedCatalog } from '../services/catalog/index.js';
import { seedDemoUser } from '../services/users/seed.js';
import { usersService } from '../services/users/service.js';

async function withSchema(schema: string, fn: (pool: Pool) => Promise<void>): Promise<void> {
  const pool = createPool({ url: databaseUrlFor(config(), schema), schema, max: 2, applicationName: 'seed' });
  try {
    await fn(pool);
  } finally {
    await pool.end();
  }
}

async function main(): Promise<void> {
  const started = performance.now();
  await withSchema(catalogService.name, async (pool) => {
    await migrate(pool, catalogService.name, catalogService.migrations!);
    const media = mediaRoot(config());
    const report = await seedCatalog(pool, media);
    console.log(`catalog (audio in ${media}):`);
    for (const line of describeSeed(report)) console.log(`  ${line}`);
  });
  await withSchema(usersService.name, async (pool) => {
    await migrate(pool, usersService.name, usersService.migrations!);
    await seedDemoUser(pool);
    console.log('users: demo account in place');
  });
  console.log(`seeded in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

main().catch((err: unknown) => {
  console.error(`seed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
