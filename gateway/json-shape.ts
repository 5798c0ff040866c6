import { ErrorCodes } from '../common/index.js';
import { HttpError } from './errors.js';

/**
 * Most values (arrays, objects and the items and members in them) a JSON body may hold. The
 * largest real bodies are a batch of 500 plays (about 3,000) or 1,000 track ids; a 1 MiB body
 * of empty arrays holds 349,000, and parsing and walking them cost a fifth of a second.
 */
export const JSON_MAX_VALUES = 10_000;
/** Deepest nesting of arrays and objects a JSON body may have (real ones are a few levels). */
export const JSON_MAX_DEPTH = 64;

const OPEN_ARRAY = 0x5b;
const OPEN_OBJECT = 0x7b;
const CLOSE_ARRAY = 0x5d;
const CLOSE_OBJECT = 0x7d;
const COMMA = 0x2c;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * Why a JSON body is too wide or too deep to parse, or undefined: one pass over its bytes,
 * counting the values (each `[`, `{` and `,` outside strings starts at most one) and the
 * nesting, that stops at the first byte past a limit. It allocates nothing and costs about a
 * millisecond per MiB, so a hostile body is refused before `JSON.parse` spends anything on it.
 * Malformed JSON passes here and is refused by the parser.
 */
export function jsonShapeProblem(
  body: Uint8Array,
  maxValues = JSON_MAX_VALUES,
  maxDepth = JSON_MAX_DEPTH,
): { status: 400 | 413; message: string } | undefined {
  let values = 1;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
      continue;
    }
    if (c === QUOTE) inString = true;
    else if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
      if (++depth > maxDepth) return { status: 400, message: `JSON nested deeper than ${maxDepth} levels` };
      if (++values > maxValues)
        return { status: 413, message: `JSON with more than ${maxValues} values is refused` };
    } else if (c === COMMA) {
      if (++values > maxValues)
        return { status: 413, message: `JSON with more than ${maxValues} values is refused` };
    } else if (c === CLOSE_ARRAY || c === CLOSE_OBJECT) depth--;
  }
  return undefined;
}

/** express.json's `verify`: refuses a too wide or too deep body before it is parsed. */
export function checkJsonShape(_req: unknown, _res: unknown, buf: Buffer): void {
  const problem = jsonShapeProblem(buf);
  if (problem) {
    throw new HttpError(problem.status, ErrorCodes.INVALID_REQUEST, `request body: ${problem.message}`);
  }
}
