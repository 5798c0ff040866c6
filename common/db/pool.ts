import pg from 'pg';

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;
export type Queryable = pg.Pool | pg.PoolClient;

export interface PoolOptions {
  url: string;
  /** Schema owned by the service: unqualified table names resolve to it. */
  schema: string;
  max?: number;
  applicationName?: string;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export function assertSchemaName(schema: string): string {
  if (!SCHEMA_NAME.test(schema)) throw new Error(`invalid schema name ${JSON.stringify(schema)}`);
  return schema;
}

/** A pool whose connections resolve unqualified names in the service's own schema. */
export function createPool(opts: PoolOptions): Pool {
  const pool = new pg.Pool({
    connectionString: opts.url,
    max: opts.max ?? 10,
    options: `-c search_path=${assertSchemaName(opts.schema)}`,
    application_name: opts.applicationName ?? opts.schema,
    connectionTimeoutMillis: 5000,
    idleTimeoutMillis: 30_000,
  });
  // An idle client losing its connection (database restart) must not crash the process;
  // the pool drops it and the next query opens a new one.
  pool.on('error', () => {});
  // The pool listens for errors only on idle clients: a checked-out client (a transaction in
  // progress) losing its connection would emit an unhandled 'error' and kill the process. Its
  // query fails with the error anyway, and the pool discards the client on release.
  pool.on('connect', (client) => client.on('error', () => {}));
  return pool;
}

/** Runs `fn` in a transaction: commit when it resolves, roll back when it throws. */
export async function withTransaction<T>(pool: Pool, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}

/**
 * Deletes the rows of `table` that match `where`, `batch` rows a statement, so a large delete
 * never holds many row locks or one long transaction; how many went.
 */
export async function deleteInBatches(
  db: Queryable,
  table: string,
  where: string,
  params: readonly unknown[],
  batch = 10_000,
): Promise<number> {
  let deleted = 0;
  for (;;) {
    const { rowCount } = await db.query(
      `DELETE FROM ${table} WHERE ctid = ANY (ARRAY(SELECT ctid FROM ${table} WHERE ${where} LIMIT ${batch}))`,
      [...params],
    );
    deleted += rowCount ?? 0;
    if ((rowCount ?? 0) < batch) return deleted;
  }
}

/**
 * Runs `fn` on a client holding the session advisory lock `key` (within the pool's schema), or
 * resolves null at once when another session holds it: one worker of a service at a time.
 */
export async function withAdvisoryLock<T>(
  pool: Pool,
  key: string,
  fn: (client: PoolClient) => Promise<T>,
): Promise<T | null> {
  const client = await pool.connect();
  try {
    const { rows } = await client.query<{ ok: boolean }>(
      `SELECT pg_try_advisory_lock(hashtext(current_schema() || '.' || $1)) AS ok`,
      [key],
    );
    if (!rows[0]!.ok) return null;
    try {
      return await fn(client);
    } finally {
      await client.query(`SELECT pg_advisory_unlock(hashtext(current_schema() || '.' || $1))`, [key]);
    }
  } finally {
    client.release();
  }
}
