import { ErrorCodes } from '../common/index.js';
import { HttpError } from './errors.js';

/** An answer that would pass its cap: refused with 413 naming the cap, never sent cut short. */
export class AnswerTooLargeError extends HttpError {
  constructor(readonly maxBytes: number) {
    super(
      413,
      ErrorCodes.INVALID_REQUEST,
      `the answer would be more than the ${maxBytes} bytes this server sends at once; ask for less (a smaller limit, fewer ids, a smaller batch)`,
    );
    this.name = 'AnswerTooLargeError';
  }
}

/** Whether no value of `v` is an object (each is a string, number, boolean, null or skipped). */
function isFlat(v: object): boolean {
  for (const key in v) {
    const item = (v as Record<string, unknown>)[key];
    if (item !== null && typeof item === 'object') return false;
  }
  return typeof (v as { toJSON?: unknown }).toJSON !== 'function';
}

const skipped = (v: unknown) => v === undefined || typeof v === 'function' || typeof v === 'symbol';

/**
 * `JSON.stringify(value)`, built piece by piece against a budget of `maxBytes` (UTF-8): it
 * stops at the first piece past the budget and throws AnswerTooLargeError, so an answer too
 * large is never built whole. Lists and nested objects are walked; an object holding only
 * plain values is one piece, written by the engine. Follows JSON.stringify's rules (toJSON, undefined and functions
 * left out of objects and `null` in arrays).
 */
export function stringifyWithin(value: unknown, maxBytes: number): string {
  const parts: string[] = [];
  let bytes = 0;
  const push = (text: string) => {
    bytes += Buffer.byteLength(text);
    if (bytes > maxBytes) throw new AnswerTooLargeError(maxBytes);
    parts.push(text);
  };
  const walk = (raw: unknown, key: string): void => {
    const v =
      raw !== null && typeof raw === 'object' && typeof (raw as { toJSON?: unknown }).toJSON === 'function'
        ? (raw as { toJSON(key: string): unknown }).toJSON(key)
        : raw;
    if (v === null || typeof v !== 'object') {
      push(skipped(v) ? 'null' : JSON.stringify(v));
      return;
    }
    // An object of plain values (a track, a user) is small: the engine writes it at once.
    if (!Array.isArray(v) && isFlat(v)) {
      push(JSON.stringify(v));
      return;
    }
    if (Array.isArray(v)) {
      push('[');
      for (let i = 0; i < v.length; i++) {
        if (i > 0) push(',');
        walk(v[i], String(i));
      }
      push(']');
      return;
    }
    push('{');
    let first = true;
    for (const [k, item] of Object.entries(v)) {
      const shown =
        item !== null &&
        typeof item === 'object' &&
        typeof (item as { toJSON?: unknown }).toJSON === 'function'
          ? (item as { toJSON(key: string): unknown }).toJSON(k)
          : item;
      if (skipped(shown)) continue;
      push(`${first ? '' : ','}${JSON.stringify(k)}:`);
      first = false;
      walk(shown, k);
    }
    push('}');
  };
  if (skipped(value)) return JSON.stringify(value) as unknown as string;
  walk(value, '');
  return parts.join('');
}
