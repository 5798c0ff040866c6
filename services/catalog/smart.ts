import type {
  ListeningFacts,
  SmartCondition,
  SmartRule,
  SmartRules,
  SmartSort,
} from '../../common/contracts/index.js';
import type { Queryable } from '../../common/index.js';
import { inScope, type Scope } from './scope.js';

/** A track a smart playlist's rules picked, with what its totals need. */
export interface MatchedTrack {
  id: string;
  durationMs: number;
}

/** The column of each catalog field; listening fields read the facts passed in (alias `f`). */
const COLUMNS = {
  genre: 't.genre',
  artist: 'ar.name',
  album: 'al.title',
  title: 't.title',
  year: 't.year',
  addedAt: 't.created_at',
  playCount: 'coalesce(f.plays, 0)',
  lastPlayed: 'f.last_played',
  rating: 'coalesce(f.rating, 0)',
  starred: 'coalesce(f.starred, false)',
} as const satisfies Record<SmartCondition['field'], string>;

/** Orders: a missing value (no year, never played) sorts last either way; the id breaks ties. */
const SORTS: Record<Exclude<SmartSort, 'random'>, string> = {
  ...COLUMNS,
  artist: 't.artist_sort',
  album: 't.album_sort',
  title: 't.search_name',
};

class Sql {
  readonly params: unknown[] = [];
  param(value: unknown, cast = ''): string {
    this.params.push(value);
    return `$${this.params.length}${cast}`;
  }
}

/** One condition as SQL. Text compares ignoring case; a missing text is unequal to any value. */
function condition(c: SmartCondition, sql: Sql): string {
  const col = COLUMNS[c.field];
  switch (c.field) {
    case 'genre':
    case 'artist':
    case 'album':
    case 'title': {
      const text = `coalesce(lower(${col}), '')`;
      const v = sql.param(c.value.toLowerCase());
      if (c.op === 'is') return `${text} = ${v}`;
      if (c.op === 'isNot') return `${text} <> ${v}`;
      return `strpos(${text}, ${v}) ${c.op === 'contains' ? '>' : '='} 0`;
    }
    case 'year':
    case 'playCount':
    case 'rating': {
      // A track without a year matches only `isNot`.
      if (c.op === 'inRange') return `${col} BETWEEN ${sql.param(c.value[0])} AND ${sql.param(c.value[1])}`;
      const op = { is: '=', isNot: '<>', gt: '>', lt: '<' }[c.op];
      const test = `${col} ${op} ${sql.param(c.value)}`;
      return c.field === 'year' && c.op === 'isNot' ? `(${col} IS NULL OR ${test})` : test;
    }
    case 'addedAt':
    case 'lastPlayed': {
      // Days are UTC: before a day is before its start, after a day is from the next day on.
      // Never played matches `notInTheLast` only.
      if (c.op === 'before') return `${col} < ${sql.param(c.value, '::date')}::timestamp AT TIME ZONE 'UTC'`;
      if (c.op === 'after') {
        return `${col} >= (${sql.param(c.value, '::date')} + 1)::timestamp AT TIME ZONE 'UTC'`;
      }
      const since = `now() - make_interval(days => ${sql.param(c.value, '::int')})`;
      return c.op === 'inTheLast' ? `${col} >= ${since}` : `(${col} IS NULL OR ${col} < ${since})`;
    }
    case 'starred':
      return `${col} = ${sql.param(c.value, '::boolean')}`;
  }
}

/**
 * Whether a track its owner never played, rated or starred matches `rule`: true, false, or
 * null when that depends on the track's catalog fields. False means only the tracks of the
 * listening passed in can match, so the query starts from those rather than the catalog.
 */
export function matchesWithoutListening(rule: SmartRule): boolean | null {
  if ('all' in rule || 'any' in rule) {
    const values = ('all' in rule ? rule.all : rule.any).map(matchesWithoutListening);
    // One false decides "all", one true decides "any".
    const decisive = !('all' in rule);
    if (values.includes(decisive)) return decisive;
    return values.every((v) => v === !decisive) ? !decisive : null;
  }
  switch (rule.field) {
    case 'playCount':
    case 'rating': {
      // Neither played nor rated: 0.
      if (rule.op === 'inRange') return rule.value[0] <= 0 && 0 <= rule.value[1];
      return { is: 0 === rule.value, isNot: 0 !== rule.value, gt: 0 > rule.value, lt: 0 < rule.value }[
        rule.op
      ];
    }
    case 'starred':
      return rule.value === false;
    case 'lastPlayed':
      // Never played: only "not in the last days" holds.
      return rule.op === 'notInTheLast';
    default:
      return null;
  }
}

function compile(rule: SmartRule, sql: Sql): string {
  if ('all' in rule) return `(${rule.all.map((r) => compile(r, sql)).join(' AND ')})`;
  if ('any' in rule) return `(${rule.any.map((r) => compile(r, sql)).join(' OR ')})`;
  return condition(rule, sql);
}

/**
 * The tracks of the catalog a smart playlist's rules pick, in its order, at most its limit.
 * The owner's listening comes in `facts` (the playlists service keeps it) and is joined as a
 * table of its own, so a rule over plays, ratings and stars reads no other service's data.
 * `seed` makes the random order stable for one playlist. Rules only listened-to tracks can
 * match (played more than 3 times, starred, ...) read those tracks by id, not the catalog.
 */
export async function matchTracks(
  db: Queryable,
  rules: SmartRules,
  facts: ListeningFacts | undefined,
  seed: string,
  scope: Scope = null,
): Promise<MatchedTrack[]> {
  const sql = new Sql();
  const f = facts ?? { trackIds: [], plays: [], lastPlayed: [], rating: [], starred: [] };
  const factsTable = `unnest(${sql.param(f.trackIds, '::text[]')}, ${sql.param(f.plays, '::int[]')},
    ${sql.param(f.lastPlayed, '::timestamptz[]')}, ${sql.param(f.rating, '::int[]')},
    ${sql.param(f.starred, '::boolean[]')}) AS f (track_id, plays, last_played, rating, starred)`;
  const where = compile(rules.rule, sql);
  const order =
    rules.sort === 'random'
      ? `md5(t.id || ${sql.param(seed)})`
      : `${SORTS[rules.sort]} ${rules.order.toUpperCase()} NULLS LAST`;
  const { rows } = await db.query<{ id: string; duration_ms: number }>(
    `SELECT t.id, t.duration_ms FROM tracks t
     JOIN albums al ON al.id = t.album_id
     JOIN artists ar ON ar.id = al.artist_id
     ${matchesWithoutListening(rules.rule) === false ? 'JOIN' : 'LEFT JOIN'} ${factsTable} ON f.track_id = t.id
     WHERE ${where} AND ${inScope('t.library_id', scope === null ? null : sql.param(scope, '::int[]'))}
     ORDER BY ${order}, t.id
     LIMIT ${sql.param(rules.limit, '::int')}`,
    sql.params,
  );
  return rows.map((r) => ({ id: r.id, durationMs: r.duration_ms }));
}
