/**
 * Helpers for running a whole copy of the system on this machine (fault suite, start.sh test,
 * benchmarks): a free port, a throw-away database, and the same migrate + seed as `npm run seed`.
 */
import { createServer } from 'node:net';
import pg from 'pg';
import { config } from '../../common/config.js';
import { migrate } from '../../common/db/migrate.js';
import { assertSchemaName, createPool } from '../../common/db/pool.js';
import { catalogService, seedCatalog } from '../../services/catalog/index.js';
import { seedDemoUser } from '../../services/users/seed.js';
import { usersService } from '../../services/users/service.js';

/** The `music` role on the maintenance database: it may create and drop databases. */
export const PG_ADMIN_URL = process.env.PG_ADMIN_URL ?? 'postgres://music:music@127.0.0.1:5432/postgres';

/** A TCP port nobody listens on right now (for a process that cannot be told to use port 0). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function admin(sql: string, adminUrl = PG_ADMIN_URL): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/**
 * Creates a database for one run (`name` from lower-case letters, digits and _), on the main
 * server or on the one of `adminUrl`.
 */
export function createDatabase(name: string, adminUrl = PG_ADMIN_URL): Promise<void> {
  return admin(`CREATE DATABASE ${assertSchemaName(name)} OWNER music`, adminUrl);
}

/** Drops a run's database, closing whatever is still connected to it. */
export function dropDatabase(name: string, adminUrl = PG_ADMIN_URL): Promise<void> {
  return admin(`DROP DATABASE IF EXISTS ${assertSchemaName(name)} WITH (FORCE)`, adminUrl);
}

/** An admin URL pointed at another database (and optionally a local port, e.g. a proxy's). */
export function databaseUrl(database: string, port?: number, adminUrl = PG_ADMIN_URL): string {
  const u = new URL(adminUrl);
  u.pathname = `/${database}`;
  if (port !== undefined) {
    u.hostname = '127.0.0.1';
    u.port = String(port);
  }
  return u.toString();
}

/**
 * Migrates and seeds a run's database the way `npm run seed` does: the catalog (audio under
 * `mediaDir`) and the demo user, whose password is sealed under the workers' `tokenSecret`.
 */
export async function seedDatabase(url: string, mediaDir: string, tokenSecret: string): Promise<void> {
  const catalog = createPool({ url, schema: 'catalog', max: 2 });
  const users = createPool({ url, schema: 'users', max: 2 });
  try {
    await migrate(catalog, 'catalog', catalogService.migrations!);
    await seedCatalog(catalog, mediaDir);
    await migrate(users, 'users', usersService.migrations!);
    await seedDemoUser(users, { ...config(), tokenSecret, tokenSecretPrevious: '' });
  } finally {
    await Promise.all([catalog.end(), users.end()]);
  }
}
