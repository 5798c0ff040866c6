import { prepared, type Queryable } from '../../common/index.js';

type Value = string | number;

interface Column {
  name: string;
  type: 'text' | 'bigint' | 'int' | 'date' | 'timestamptz';
  /** Key columns identify a row; the others merge into an existing row by adding or by max. */
  merge: 'key' | 'add' | 'max';
}

export interface CounterTable {
  name: string;
  columns: readonly Column[];
}

const key = (name: string, type: Column['type'] = 'text'): Column => ({ name, type, merge: 'key' });
const add = (name: string): Column => ({ name, type: 'bigint', merge: 'add' });

/** The play statistics, in the order every transaction writes them (a fixed order avoids deadlocks). */
export const PLAY_TABLES = {
  trackPlays: { name: 'track_plays', columns: [key('track_id'), add('plays'), add('listeners')] },
  trackHourly: { name: 'track_hourly', columns: [key('hour', 'timestamptz'), key('track_id'), add('plays')] },
  userTotals: {
    name: 'user_totals',
    columns: [
      key('user_id'),
      add('plays'),
      add('ms_played'),
      { name: 'last_played_at', type: 'timestamptz', merge: 'max' },
    ],
  },
  userTracks: {
    name: 'user_tracks',
    columns: [
      key('user_id'),
      key('track_id'),
      add('plays'),
      { name: 'last_played_at', type: 'timestamptz', merge: 'max' },
    ],
  },
  minutePlays: { name: 'minute_plays', columns: [key('minute', 'timestamptz'), add('plays')] },
} as const satisfies Record<string, CounterTable>;

export const COUNTERS_TABLE: CounterTable = { name: 'counters', columns: [key('name'), add('value')] };

/** The listening report's tables (projection `report`), per user and UTC month or day. */
export const REPORT_TABLES = {
  tracks: {
    name: 'report_tracks',
    columns: [key('user_id'), key('month', 'date'), key('track_id'), add('plays'), add('ms_played')],
  },
  days: {
    name: 'report_days',
    columns: [key('user_id'), key('day', 'date'), add('plays'), add('ms_played')],
  },
  hours: {
    name: 'report_hours',
    columns: [key('user_id'), key('month', 'date'), key('weekday', 'int'), key('hour', 'int'), add('plays')],
  },
} as const satisfies Record<string, CounterTable>;

/**
 * Rows of one counter table aggregated in memory, so a batch of events becomes one upsert
 * with one row per key. Timestamps are ISO strings of one format, so `max` compares them as text.
 */
export class Tally {
  private readonly rows = new Map<string, Value[]>();
  private readonly keyCount: number;

  constructor(readonly table: CounterTable) {
    this.keyCount = table.columns.filter((c) => c.merge === 'key').length;
  }

  get size(): number {
    return this.rows.size;
  }

  add(row: Value[]): void {
    const id = JSON.stringify(row.slice(0, this.keyCount));
    const existing = this.rows.get(id);
    if (!existing) {
      this.rows.set(id, row);
      return;
    }
    this.table.columns.forEach((column, i) => {
      if (column.merge === 'add') existing[i] = (existing[i] as number) + (row[i] as number);
      else if (column.merge === 'max' && row[i]! > existing[i]!) existing[i] = row[i]!;
    });
  }

  /**
   * The upsert's statement, its parameters numbered from `first` + 1, and their values. Rows
   * go in key order, so two transactions touching the same keys lock them in the same order.
   */
  statement(first: number, returning?: string): { text: string; values: Value[][] } {
    return this.upsert((i) => `$${first + i + 1}`, returning);
  }

  /**
   * The upsert as one statement with its values inlined (each column one array literal,
   * escaped by `quote`, the connection's escapeLiteral): what a batch sends with its COMMIT.
   */
  inlineStatement(quote: (text: string) => string): string {
    return this.upsert((_, column) => quote(arrayLiteral(column))).text;
  }

  /** The upsert, column i's values written as `param(i, values)`, and those values. */
  private upsert(
    param: (i: number, column: readonly Value[]) => string,
    returning?: string,
  ): { text: string; values: Value[][] } {
    const { name, columns } = this.table;
    const rows = [...this.rows.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, r]) => r);
    const values = columns.map((_, i) => rows.map((r) => r[i]!));
    const merges = columns
      .filter((c) => c.merge !== 'key')
      .map((c) =>
        c.merge === 'add'
          ? `${c.name} = t.${c.name} + EXCLUDED.${c.name}`
          : `${c.name} = GREATEST(t.${c.name}, EXCLUDED.${c.name})`,
      );
    return {
      text: `INSERT INTO ${name} AS t (${columns.map((c) => c.name).join(', ')})
         SELECT * FROM unnest(${columns.map((c, i) => `${param(i, values[i]!)}::${c.type}[]`).join(', ')})
         ON CONFLICT (${columns
           .filter((c) => c.merge === 'key')
           .map((c) => c.name)
           .join(', ')}) DO UPDATE SET ${merges.join(', ')}${returning ? ` RETURNING ${returning}` : ''}`,
      values,
    };
  }
}

/**
 * Adds several tallies (of different tables) in one statement, one round trip: each upsert a
 * data-modifying WITH query, all of which PostgreSQL runs to completion. On the shared two
 * cores a round trip now and then took 15-25 ms (the database idle, waiting for the next
 * statement), so a batch of nine of them stalled often; now it is four (`npm run bench -- freshness`).
 * One leader writes a projection's tables, so their order in the statement cannot deadlock;
 * each table's rows still go in key order.
 */
export async function upsertTallies(db: Queryable, tallies: readonly Tally[]): Promise<void> {
  const values: Value[][] = [];
  const text = combine(
    tallies
      .filter((t) => t.size > 0)
      .map((tally) => {
        const statement = tally.statement(values.length);
        values.push(...statement.values);
        return statement.text;
      }),
  );
  if (text) await db.query(prepared(text, values));
}

/**
 * The same upserts as one statement with their values inlined (null: nothing to add), for a
 * projection batch to send with its COMMIT (ProjectionBatch.atCommit). Every writer takes the
 * tables in this one order and each table's rows in key order, so leaders of several
 * partitions writing the same rows wait for each other and never deadlock.
 */
export function inlineTallies(tallies: readonly Tally[], quote: (text: string) => string): string | null {
  return combine(tallies.filter((t) => t.size > 0).map((t) => t.inlineStatement(quote)));
}

/** Several upserts as one statement: each a data-modifying WITH query. */
function combine(parts: readonly string[]): string | null {
  if (parts.length === 0) return null;
  return parts.length === 1
    ? parts[0]!
    : `WITH ${parts.map((p, i) => `u${i} AS (${p})`).join(',\n')}\nSELECT 1`;
}

/** A PostgreSQL array literal of `values`, every element quoted (`{"a","b\\"c"}`). */
function arrayLiteral(values: readonly Value[]): string {
  return `{${values.map((v) => `"${String(v).replace(/[\\"]/g, (ch) => `\\${ch}`)}"`).join(',')}}`;
}
