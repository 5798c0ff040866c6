import {
  SMART_MAX_LIMIT,
  type SmartRule,
  type SmartRulesInput,
  type SmartSort,
} from '../../common/contracts/index.js';
import { InvalidInputError } from '../../common/index.js';

/**
 * Navidrome's smart playlist files (`.nsp`): JSON with `name`, `comment`, a top-level `all` or
 * `any` list of expressions (`{"<operator>": {"<field>": value}}` or nested `all`/`any`),
 * `sort` (a field, `-field` for descending; Navidrome takes a comma-separated list, of which
 * the first is used here), `order` and `limit`. Fields and operators are case-insensitive, as
 * Navidrome reads them.
 */

/** Navidrome's field names (lower case) and ours. */
const FIELDS: Record<string, SmartSort | 'starred'> = {
  title: 'title',
  album: 'album',
  artist: 'artist',
  albumartist: 'artist',
  genre: 'genre',
  year: 'year',
  dateadded: 'addedAt',
  lastplayed: 'lastPlayed',
  playcount: 'playCount',
  rating: 'rating',
  loved: 'starred',
  random: 'random',
};

/** Navidrome's operators (lower case) and ours. */
const OPERATORS: Record<string, string> = {
  is: 'is',
  isnot: 'isNot',
  gt: 'gt',
  lt: 'lt',
  contains: 'contains',
  notcontains: 'notContains',
  intherange: 'inRange',
  before: 'before',
  after: 'after',
  inthelast: 'inTheLast',
  notinthelast: 'notInTheLast',
};

const NUMERIC = new Set(['year', 'playCount', 'rating']);

export interface NspImport {
  name: string | undefined;
  rules: SmartRulesInput;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Numbers written as strings ("1990") become numbers where the field is numeric. */
function numeric(value: unknown): unknown {
  if (typeof value === 'string' && /^-?\d+$/.test(value.trim())) return Number(value);
  if (Array.isArray(value)) return value.map(numeric);
  return value;
}

class Translator {
  readonly problems: string[] = [];

  expressions(list: unknown, where: string): SmartRule[] {
    if (!Array.isArray(list)) {
      this.problems.push(`${where} must be a list of expressions`);
      return [];
    }
    return list.flatMap((item, i) => this.expression(item, `${where}[${i}]`));
  }

  private expression(item: unknown, where: string): SmartRule[] {
    if (!isObject(item) || Object.keys(item).length !== 1) {
      this.problems.push(`${where} must be an object with one operator`);
      return [];
    }
    const [key, body] = Object.entries(item)[0]!;
    const op = key.toLowerCase();
    if (op === 'all' || op === 'any') {
      const rules = this.expressions(body, `${where}.${key}`);
      return [op === 'all' ? { all: rules } : { any: rules }];
    }
    const ours = OPERATORS[op];
    if (!ours) {
      this.problems.push(`${where}: the operator "${key}" has no counterpart here`);
      return [];
    }
    if (!isObject(body) || Object.keys(body).length !== 1) {
      this.problems.push(`${where}.${key} must name one field`);
      return [];
    }
    const [fieldName, raw] = Object.entries(body)[0]!;
    const field = FIELDS[fieldName.toLowerCase()];
    if (!field || field === 'random') {
      this.problems.push(`${where}: the field "${fieldName}" has no counterpart here`);
      return [];
    }
    let value = NUMERIC.has(field) ? numeric(raw) : raw;
    if (field === 'starred' && typeof value === 'string') value = value.toLowerCase() === 'true';
    // Navidrome's isNot on a boolean: the same as `is` the other value.
    if (field === 'starred' && ours === 'isNot' && typeof value === 'boolean') {
      return [{ field, op: 'is', value: !value } as SmartRule];
    }
    return [{ field, op: ours, value } as SmartRule];
  }

  sort(given: unknown, order: unknown): Pick<SmartRulesInput, 'sort' | 'order'> {
    let sort = given;
    // Navidrome orders by title when a file names no order.
    if (sort === undefined || sort === '') sort = 'title';
    if (typeof sort !== 'string') {
      this.problems.push('sort must be a field name');
      return {};
    }
    const first = sort.split(',')[0]!.trim();
    const descending = first.startsWith('-');
    const name = first.replace(/^[+-]/, '');
    const field = FIELDS[name.toLowerCase()];
    if (!field || field === 'starred') {
      this.problems.push(`sort: the field "${name}" has no counterpart here`);
      return {};
    }
    let dir: 'asc' | 'desc' = descending ? 'desc' : 'asc';
    if (typeof order === 'string' && order.toLowerCase() === 'desc') dir = descending ? 'asc' : 'desc';
    return { sort: field, order: dir };
  }
}

/**
 * Reads a `.nsp` file's text into rules (which the contract's schema then checks). Throws
 * InvalidInputError listing every expression, field or operator that does not map.
 */
export function fromNsp(text: string): NspImport {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new InvalidInputError(`the .nsp file is not valid JSON: ${(err as Error).message}`);
  }
  if (!isObject(doc)) throw new InvalidInputError('the .nsp file must hold a JSON object');
  const t = new Translator();
  const key = Object.keys(doc).find((k) => k.toLowerCase() === 'any' || k.toLowerCase() === 'all');
  if (!key) throw new InvalidInputError('the .nsp file has no rules (an "all" or "any" list)');
  const list = t.expressions(doc[key], key);
  const rule = key.toLowerCase() === 'any' ? { any: list } : { all: list };
  const sorting = t.sort(doc.sort, doc.order);
  if (t.problems.length > 0) {
    throw new InvalidInputError(`the .nsp file does not map: ${t.problems.slice(0, 10).join('; ')}`, {
      problems: t.problems.slice(0, 50),
    });
  }
  // Navidrome without a limit takes every match; here a smart playlist holds at most SMART_MAX_LIMIT.
  const limit =
    typeof doc.limit === 'number' && doc.limit > 0 ? Math.min(doc.limit, SMART_MAX_LIMIT) : SMART_MAX_LIMIT;
  const name =
    typeof doc.name === 'string' && doc.name.trim() !== '' ? doc.name.trim().slice(0, 200) : undefined;
  return { name, rules: { rule, ...sorting, limit } };
}
