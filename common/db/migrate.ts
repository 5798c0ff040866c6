import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { sourcePath } from '../paths.js';
import { assertSchemaName, type Pool } from './pool.js';

/** Tables every service schema has: the outbox and the processed-event ledger. */
const CORE_DIR = sourcePath(import.meta.url, 'migrations');

/**
 * Applies plain-SQL migrations in file-name order, each once, each in its own transaction,
 * under an advisory lock so several workers starting together do not race. The SQL uses
 * unqualified names; they land in `schema`.
 */
export async function migrate(pool: Pool, schema: string, dir: string, log?: Logger): Promise<string[]> {
  assertSchemaName(schema);
  const client = await pool.connect();
  const applied: string[] = [];
  try {
    await client.query('SELECT pg_advisory_lock(hashtext($1))', [`migrate:${schema}`]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await client.query(`SET search_path TO ${schema}`);
    await client.query(
      'CREATE TABLE IF NOT EXISTS schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())',
    );
    const done = new Set(
      (await client.query<{ name: string }>('SELECT name FROM schema_migrations')).rows.map((r) => r.name),
    );
    const files = [
      ...(await sqlFiles(CORE_DIR)).map((f) => ({ name: `core/${f}`, path: join(CORE_DIR, f) })),
      ...(await sqlFiles(dir)).map((f) => ({ name: f, path: join(dir, f) })),
    ];
    for (const file of files) {
      if (done.has(file.name)) continue;
      const sql = await readFile(file.path, 'utf8');
      await client.query('BEGIN');
      try {
        await client.query(sql);
        await client.query('INSERT INTO schema_migrations (name) VALUES ($1)', [file.name]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK');
        throw new Error(`migration ${file.name} failed: ${(err as Error).message}`);
      }
      applied.push(file.name);
      log?.info({ schema, migration: file.name }, 'applied migration');
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock(hashtext($1))', [`migrate:${schema}`]).catch(() => {});
    await client.query('RESET search_path').catch(() => {});
    client.release();
  }
  return applied;
}

async function sqlFiles(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((f) => f.endsWith('.sql')).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** Drops a schema and everything in it (tests, rebuilds). */
export async function dropSchema(pool: Pool, schema: string): Promise<void> {
  await pool.query(`DROP SCHEMA IF EXISTS ${assertSchemaName(schema)} CASCADE`);
}
