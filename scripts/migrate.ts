/**
 * Applies every service's migrations to its database (<SERVICE>_DATABASE_URL, or DATABASE_URL),
 * each into the schema named after the service: `npm run migrate`. Safe to run while workers run (migrations take an
 * advisory lock and apply each file once).
 */
import { config, createPool, databaseUrlFor, migrate } from '../common/index.js';
import { loadService, SERVICE_NAMES } from './services.js';

async function main(): Promise<void> {
  for (const name of SERVICE_NAMES) {
    const def = await loadService(name);
    // Same rule as startService: a service without a migrations folder owns no tables.
    if (!def.migrations) continue;
    const pool = createPool({
      url: databaseUrlFor(config(), name),
      schema: name,
      max: 1,
      applicationName: 'migrate',
    });
    try {
      const applied = await migrate(pool, name, def.migrations);
      console.log(`${name}: ${applied.length === 0 ? 'up to date' : `applied ${applied.join(', ')}`}`);
    } finally {
      await pool.end();
    }
  }
}

main().catch((err: unknown) => {
  console.error(`migrate: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
