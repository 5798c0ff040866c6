/**
 * Names an administrator: `npm run admin -- <username>` makes that account an admin (and
 * enables it if it was disabled). The first account made on a fresh install is the admin on its
 * own; this is for installs whose users were made before roles existed, and for getting an
 * admin back. Runs the users migrations first; the account's credentials carry the role within
 * TOKEN_CACHE_TTL_MS, no restart needed.
 */
import { config, createPool, databaseUrlFor, migrate } from '../common/index.js';
import { usersService } from '../services/users/service.js';
import { grantAdmin } from '../services/users/store.js';

async function main(): Promise<void> {
  const username = process.argv[2];
  if (!username || process.argv.length > 3) {
    console.error('usage: npm run admin -- <username>');
    process.exit(2);
  }
  const name = usersService.name;
  const pool = createPool({
    url: databaseUrlFor(config(), name),
    schema: name,
    max: 1,
    applicationName: 'admin',
  });
  try {
    await migrate(pool, name, usersService.migrations!);
    const account = await grantAdmin(pool, username);
    if (!account) {
      console.error(`admin: no user named "${username}"`);
      process.exit(1);
    }
    console.log(`${account.username} is an administrator`);
  } finally {
    await pool.end();
  }
}

main().catch((err: unknown) => {
  console.error(`admin: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
