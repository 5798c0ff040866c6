/** Splitting a prompt line into words and separating `--flags` from arguments. */

export type FlagKind = 'bool' | 'value';
export type FlagSpec = Record<string, FlagKind>;
export type Flags = Record<string, string | true>;

export class UsageError extends Error {
  override name = 'UsageError';
}

/** Shell-like words: whitespace separates, '…' and "…" group, backslash escapes. */
export function splitWords(line: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let quote: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quote) {
      if (ch === quote) quote = null;
      else if (ch === '\\' && quote === '"' && i + 1 < line.length) word += line[++i];
      else word += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      inWord = true;
    } else if (ch === '\\' && i + 1 < line.length) {
      word += line[++i];
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += ch;
      inWord = true;
    }
  }
  if (quote) throw new UsageError(`unclosed ${quote} quote`);
  if (inWord) words.push(word);
  return words;
}

/**
 * Separates flags (`--name value`, `--name=value`, `--bool`) from positional words; `--`
 * ends the flags. Unknown flags are an error naming them.
 */
export function parseFlags(words: string[], spec: FlagSpec): { args: string[]; flags: Flags } {
  const args: string[] = [];
  const flags: Flags = {};
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    if (word === '--') {
      args.push(...words.slice(i + 1));
      break;
    }
    if (!word.startsWith('--') || word.length === 2) {
      args.push(word);
      continue;
    }
    const eq = word.indexOf('=');
    const name = word.slice(2, eq === -1 ? undefined : eq);
    const kind = spec[name];
    if (!kind) throw new UsageError(`unknown option --${name}`);
    if (kind === 'bool') {
      if (eq !== -1) throw new UsageError(`--${name} takes no value`);
      flags[name] = true;
    } else if (eq !== -1) {
      flags[name] = word.slice(eq + 1);
    } else {
      const value = words[++i];
      if (value === undefined) throw new UsageError(`--${name} needs a value`);
      flags[name] = value;
    }
  }
  return { args, flags };
}

/** A whole number within bounds, or a usage error naming what it is. */
export function intArg(
  raw: string | undefined,
  what: string,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (raw === undefined || !/^-?\d+$/.test(raw)) throw new UsageError(`${what} must be a whole number`);
  const n = Number(raw);
  if (n < min || n > max) throw new UsageError(`${what} must be between ${min} and ${max}`);
  return n;
}
