/**
 * The rules of a smart playlist, edited as rows (field, operator, value) matched all or any,
 * with an order and a limit; rules with nested groups (an imported `.nsp` file's, say) are
 * edited as JSON. The playlists service checks them and names what is wrong.
 */
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import type { SmartField, SmartRule, SmartRules, SmartSort } from '../../../common/contracts/index.js';

/** Rules as the editor holds them: the group, and what the service defaults when left out. */
type SmartRulesInput = Pick<SmartRules, 'rule'> & Partial<Omit<SmartRules, 'rule'>>;

type Kind = 'text' | 'number' | 'date' | 'bool';

const FIELDS: Record<SmartField, { label: string; kind: Kind }> = {
  genre: { label: 'Genre', kind: 'text' },
  artist: { label: 'Artist', kind: 'text' },
  album: { label: 'Album', kind: 'text' },
  title: { label: 'Title', kind: 'text' },
  year: { label: 'Year', kind: 'number' },
  addedAt: { label: 'Added', kind: 'date' },
  playCount: { label: 'Play count', kind: 'number' },
  lastPlayed: { label: 'Last played', kind: 'date' },
  rating: { label: 'Rating', kind: 'number' },
  starred: { label: 'Starred', kind: 'bool' },
};

const OPERATORS: Record<Kind, Array<[string, string]>> = {
  text: [
    ['is', 'is'],
    ['isNot', 'is not'],
    ['contains', 'contains'],
    ['notContains', 'does not contain'],
  ],
  number: [
    ['is', 'is'],
    ['isNot', 'is not'],
    ['gt', 'is more than'],
    ['lt', 'is less than'],
    ['inRange', 'is from … to …'],
  ],
  date: [
    ['inTheLast', 'in the last … days'],
    ['notInTheLast', 'not in the last … days'],
    ['before', 'before'],
    ['after', 'after'],
  ],
  bool: [['is', 'is']],
};

const SORTS: Record<SmartSort, string> = {
  artist: 'Artist',
  album: 'Album',
  title: 'Title',
  genre: 'Genre',
  year: 'Year',
  addedAt: 'Added',
  playCount: 'Play count',
  lastPlayed: 'Last played',
  rating: 'Rating',
  random: 'Random',
};

interface Row {
  field: SmartField;
  op: string;
  value: string;
  /** The upper bound of a range. */
  to: string;
}

/** The input a value is typed in: a day for before/after, a number for counts, years and days. */
function inputType(kind: Kind, op: string): { type: 'date' } | { type: 'text' } | { type: 'number' } {
  if (kind === 'date' && (op === 'before' || op === 'after')) return { type: 'date' };
  return kind === 'text' ? { type: 'text' } : { type: 'number' };
}

const newRow = (): Row => ({ field: 'genre', op: 'is', value: '', to: '' });

function toRule(r: Row): SmartRule {
  const kind = FIELDS[r.field].kind;
  const number = (v: string) => (v.trim() === '' ? Number.NaN : Number(v));
  let value: unknown = r.value;
  if (kind === 'number') value = r.op === 'inRange' ? [number(r.value), number(r.to)] : number(r.value);
  if (kind === 'date' && (r.op === 'inTheLast' || r.op === 'notInTheLast')) value = number(r.value);
  if (kind === 'bool') value = r.value !== 'no';
  return { field: r.field, op: r.op, value } as SmartRule;
}

function toRow(rule: SmartRule): Row | null {
  if ('all' in rule || 'any' in rule) return null;
  const [value, to] = Array.isArray(rule.value) ? rule.value : [rule.value, ''];
  const shown = typeof value === 'boolean' ? (value ? 'yes' : 'no') : String(value);
  return { field: rule.field, op: rule.op, value: shown, to: String(to) };
}

/** The rows of flat rules; null when they nest groups (edited as JSON then). */
function rowsOf(rules: SmartRulesInput): Row[] | null {
  const list = 'all' in rules.rule ? rules.rule.all : rules.rule.any;
  const rows = list.map(toRow);
  return rows.every((r): r is Row => r !== null) ? rows : null;
}

export function SmartRulesEditor(props: {
  id: string;
  initial?: SmartRulesInput;
  submitLabel: string;
  onSubmit: (rules: unknown) => Promise<void>;
  onError: (message: string) => void;
  children?: JSX.Element | JSX.Element[];
}): JSX.Element {
  const start = props.initial;
  const startRows = start ? rowsOf(start) : [newRow()];
  const [match, setMatch] = useState<'all' | 'any'>(start && 'any' in start.rule ? 'any' : 'all');
  const [rows, setRows] = useState<Row[]>(startRows ?? [newRow()]);
  const [sort, setSort] = useState<SmartSort>(start?.sort ?? 'artist');
  const [order, setOrder] = useState<'asc' | 'desc'>(start?.order ?? 'asc');
  const [limit, setLimit] = useState(String(start?.limit ?? 100));
  const [asJson, setAsJson] = useState(startRows === null);
  const [json, setJson] = useState(start ? JSON.stringify(start, null, 2) : '');
  const [busy, setBusy] = useState(false);

  const fromRows = (): SmartRulesInput => ({
    rule: match === 'all' ? { all: rows.map(toRule) } : { any: rows.map(toRule) },
    sort,
    order,
    limit: Number(limit),
  });
  const update = (i: number, change: Partial<Row>) =>
    setRows(rows.map((r, j) => (j === i ? { ...r, ...change } : r)));

  const submit = async (e: Event) => {
    e.preventDefault();
    let rules: unknown;
    try {
      rules = asJson ? JSON.parse(json) : fromRows();
    } catch (err) {
      props.onError(`The rules are not valid JSON: ${(err as Error).message}`);
      return;
    }
    setBusy(true);
    try {
      await props.onSubmit(rules);
    } finally {
      setBusy(false);
    }
  };

  const toggleJson = () => {
    if (!asJson) {
      setJson(JSON.stringify(fromRows(), null, 2));
      setAsJson(true);
      return;
    }
    try {
      const rules = JSON.parse(json) as SmartRulesInput;
      const flat = rowsOf(rules);
      if (!flat) throw new Error('these rules nest groups, which only JSON shows');
      setRows(flat);
      setMatch('any' in rules.rule ? 'any' : 'all');
      setSort(rules.sort ?? 'artist');
      setOrder(rules.order ?? 'asc');
      setLimit(String(rules.limit ?? 100));
      setAsJson(false);
    } catch (err) {
      props.onError(`Cannot show these rules as rows: ${(err as Error).message}`);
    }
  };

  const id = (name: string, i?: number) => `${props.id}-${name}${i === undefined ? '' : `-${i}`}`;
  return (
    <form class="smart-rules" onSubmit={(e) => void submit(e)}>
      {props.children}
      {asJson ? (
        <>
          <label for={id('json')}>Rules (JSON)</label>
          <textarea id={id('json')} rows={10} value={json} onInput={(e) => setJson(e.currentTarget.value)} />
        </>
      ) : (
        <>
          <label for={id('match')}>Tracks that match</label>
          <select
            id={id('match')}
            value={match}
            onChange={(e) => setMatch(e.currentTarget.value as 'all' | 'any')}
          >
            <option value="all">all of these rules</option>
            <option value="any">any of these rules</option>
          </select>
          <ul class="plain rule-rows">
            {rows.map((r, i) => {
              const kind = FIELDS[r.field].kind;
              return (
                <li key={i} class="rule-row">
                  <select
                    aria-label={`Rule ${i + 1}: field`}
                    value={r.field}
                    onChange={(e) => {
                      const field = e.currentTarget.value as SmartField;
                      const op = OPERATORS[FIELDS[field].kind][0]![0];
                      update(i, { field, op, value: FIELDS[field].kind === 'bool' ? 'yes' : '' });
                    }}
                  >
                    {Object.entries(FIELDS).map(([f, d]) => (
                      <option key={f} value={f}>
                        {d.label}
                      </option>
                    ))}
                  </select>
                  <select
                    aria-label={`Rule ${i + 1}: operator`}
                    value={r.op}
                    onChange={(e) => update(i, { op: e.currentTarget.value })}
                  >
                    {OPERATORS[kind].map(([op, label]) => (
                      <option key={op} value={op}>
                        {label}
                      </option>
                    ))}
                  </select>
                  {kind === 'bool' ? (
                    <select
                      aria-label={`Rule ${i + 1}: value`}
                      value={r.value}
                      onChange={(e) => update(i, { value: e.currentTarget.value })}
                    >
                      <option value="yes">yes</option>
                      <option value="no">no</option>
                    </select>
                  ) : (
                    <input
                      aria-label={`Rule ${i + 1}: value`}
                      {...inputType(kind, r.op)}
                      required
                      value={r.value}
                      onInput={(e) => update(i, { value: e.currentTarget.value })}
                    />
                  )}
                  {r.op === 'inRange' ? (
                    <input
                      aria-label={`Rule ${i + 1}: up to`}
                      type="number"
                      required
                      value={r.to}
                      onInput={(e) => update(i, { to: e.currentTarget.value })}
                    />
                  ) : null}
                  <button
                    type="button"
                    aria-label={`Remove rule ${i + 1}`}
                    disabled={rows.length === 1}
                    onClick={() => setRows(rows.filter((_, j) => j !== i))}
                  >
                    Remove
                  </button>
                </li>
              );
            })}
          </ul>
          <button type="button" onClick={() => setRows([...rows, newRow()])}>
            Add a rule
          </button>
          <div class="rule-order">
            <label for={id('sort')}>Order by</label>
            <select
              id={id('sort')}
              value={sort}
              onChange={(e) => setSort(e.currentTarget.value as SmartSort)}
            >
              {Object.entries(SORTS).map(([s, label]) => (
                <option key={s} value={s}>
                  {label}
                </option>
              ))}
            </select>
            <select
              aria-label="Direction"
              value={order}
              onChange={(e) => setOrder(e.currentTarget.value as 'asc' | 'desc')}
            >
              <option value="asc">ascending</option>
              <option value="desc">descending</option>
            </select>
            <label for={id('limit')}>At most</label>
            <input
              id={id('limit')}
              type="number"
              min={1}
              max={1000}
              required
              value={limit}
              onInput={(e) => setLimit(e.currentTarget.value)}
            />
            <span>tracks</span>
          </div>
        </>
      )}
      <div class="actions">
        <button type="submit" class="primary" disabled={busy}>
          {props.submitLabel}
        </button>
        <button type="button" onClick={toggleJson}>
          {asJson ? 'Edit as rows' : 'Edit as JSON'}
        </button>
      </div>
    </form>
  );
}
