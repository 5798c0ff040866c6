import { afterAll, describe, expect, it } from 'vitest';
import { isConnectionError, isDataException, translateDatabaseError } from '../common/db/errors.js';
import { createPool } from '../common/db/pool.js';
import { ErrorCodes, InvalidInputError, UnavailableError } from '../common/errors.js';
import { TEST_DATABASE_URL } from './support/env.js';
import { freePort } from './support/system.js';

/** The error a real query fails with. */
async function failure(run: () => Promise<unknown>): Promise<unknown> {
  try {
    await run();
  } catch (err) {
    return err;
  }
  throw new Error('expected the query to fail');
}

describe('database errors as the caller sees them', () => {
  const pool = createPool({ url: TEST_DATABASE_URL, schema: 'public', max: 1 });
  afterAll(() => pool.end());

  it('a database nobody listens on is unavailable (503), not an internal error', async () => {
    const url = new URL(TEST_DATABASE_URL);
    url.port = String(await freePort());
    const down = createPool({ url: url.toString(), schema: 'public', max: 1 });
    const err = await failure(() => down.query('SELECT 1'));
    await down.end();
    expect(isConnectionError(err)).toBe(true);
    const mapped = translateDatabaseError(err);
    expect(mapped).toBeInstanceOf(UnavailableError);
    expect(mapped?.code).toBe(ErrorCodes.UNAVAILABLE);
  });

  it('a connection that breaks mid-query is unavailable too', async () => {
    const client = await pool.connect();
    const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    const killer = createPool({ url: TEST_DATABASE_URL, schema: 'public', max: 1 });
    // Caught from the start: the query may fail before the terminate call returns.
    const slow = failure(() => client.query('SELECT pg_sleep(5)'));
    await killer.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
    const err = await slow;
    client.release(true);
    await killer.end();
    expect(isConnectionError(err)).toBe(true);
    expect(translateDatabaseError(err)).toBeInstanceOf(UnavailableError);
  });

  it("a value the database cannot take is invalid input (400), in our words, not the database's", async () => {
    const cases: Array<[string, unknown[], string]> = [
      ['SELECT $1::text', ['a\u0000b'], 'text must not contain NUL characters'],
      ["SELECT '99999999999'::int", [], 'a number is out of range'],
      ["SELECT 'abc'::int", [], 'a value has the wrong format'],
      ["SELECT '0000-01-01'::date", [], 'a date or time is out of range'],
      ['SELECT 1/0', [], 'a value is not acceptable'],
    ];
    for (const [sql, params, message] of cases) {
      const err = await failure(() => pool.query(sql, params));
      expect(isDataException(err), sql).toBe(true);
      expect(isConnectionError(err)).toBe(false);
      const mapped = translateDatabaseError(err);
      expect(mapped, sql).toBeInstanceOf(InvalidInputError);
      expect(mapped?.message, sql).toBe(message);
    }
  });

  it('anything else stays what it was (an internal error for the caller)', async () => {
    const err = await failure(() => pool.query('SELECT * FROM no_such_table_here'));
    expect(isConnectionError(err)).toBe(false);
    expect(isDataException(err)).toBe(false);
    expect(translateDatabaseError(err)).toBeUndefined();
    expect(translateDatabaseError('not even an error')).toBeUndefined();
  });
});
