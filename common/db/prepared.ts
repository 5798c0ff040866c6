import { createHash } from 'node:crypto';
import type { QueryConfig } from 'pg';

const statementNames = new Map<string, string>();

/**
 * The query as a named (prepared) statement, so PostgreSQL parses and plans it once per
 * connection rather than on every call (measured on the catalog: ~6x less database CPU for a
 * track lookup, ~1.5x less for a search). For statements run again and again with different
 * values (every varying part a parameter), so the texts, and the statements each connection
 * keeps, are a small fixed set. A statement whose tables change (a rebuild's swap) is
 * re-planned by PostgreSQL on its next use.
 */
export function prepared(text: string, values: unknown[]): QueryConfig {
  let name = statementNames.get(text);
  if (name === undefined) {
    name = `s_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`;
    statementNames.set(text, name);
  }
  return { name, text, values };
}
