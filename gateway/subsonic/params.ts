import type { Request } from 'express';
import { MAX_IDS } from '../../common/contracts/index.js';
import { missing, SubsonicCodes, SubsonicError } from './response.js';

/** Longest single parameter value taken (ids, names, queries; API keys are the longest). */
const MAX_LENGTH = 2048;

const invalid = (message: string) => new SubsonicError(SubsonicCodes.GENERIC, message);

function collect(into: Map<string, string[]>, source: unknown): void {
  if (typeof source !== 'object' || source === null) return;
  for (const [key, raw] of Object.entries(source)) {
    const values = (Array.isArray(raw) ? raw : [raw]).filter((v): v is string => typeof v === 'string');
    if (values.length > 0) into.set(key, [...(into.get(key) ?? []), ...values]);
  }
}

/**
 * A request's parameters, from the query string and from an
 * `application/x-www-form-urlencoded` body (OpenSubsonic's formPost), merged. A key may repeat
 * (`id=1&id=2`); single-valued readers take the first value.
 */
export class Params {
  private constructor(private readonly values: Map<string, string[]>) {}

  static of(req: Request): Params {
    const values = new Map<string, string[]>();
    collect(values, req.query);
    collect(values, req.body);
    return new Params(values);
  }

  has(name: string): boolean {
    return this.values.has(name);
  }

  /** Every value of a repeatable parameter (an empty list when absent). */
  all(name: string): string[] {
    const values = this.values.get(name) ?? [];
    for (const v of values) if (v.length > MAX_LENGTH) throw invalid(`${name} is too long`);
    return values;
  }

  string(name: string): string | undefined {
    return this.all(name)[0];
  }

  /** A parameter that must be present and not empty (error 10 otherwise). */
  required(name: string): string {
    const value = this.string(name);
    if (value === undefined || value === '') throw missing(name);
    return value;
  }

  /** A parameter that must be present, though it may be empty (error 10 otherwise). */
  given(name: string): string {
    const value = this.string(name);
    if (value === undefined) throw missing(name);
    return value;
  }

  /**
   * The non-empty values of a repeatable parameter (ids), at most `max` (the contracts' bound
   * on ids per call): more is refused before any of them is looked up.
   */
  list(name: string, max = MAX_IDS): string[] {
    const values = this.all(name).filter((v) => v !== '');
    if (values.length > max)
      throw invalid(`${name} may be given at most ${max} times (it was given ${values.length})`);
    return values;
  }

  /** The non-empty values of a repeatable parameter, at least one (error 10 otherwise). */
  requiredList(name: string, max = MAX_IDS): string[] {
    const values = this.list(name, max);
    if (values.length === 0) throw missing(name);
    return values;
  }

  int(name: string, min: number, max: number): number | undefined {
    const value = this.string(name);
    return value === undefined || value === '' ? undefined : toInt(name, value, min, max);
  }

  requiredInt(name: string, min: number, max: number): number {
    return toInt(name, this.required(name), min, max);
  }

  ints(name: string, min: number, max: number): number[] {
    return this.all(name).map((v) => toInt(name, v, min, max));
  }

  /** A number, decimals allowed (a playback rate, a position some players give with decimals). */
  number(name: string, min: number, max: number): number | undefined {
    const value = this.string(name);
    return value === undefined || value === '' ? undefined : toNumber(name, value, min, max);
  }

  requiredNumber(name: string, min: number, max: number): number {
    return toNumber(name, this.required(name), min, max);
  }

  bool(name: string): boolean | undefined {
    const value = this.string(name)?.toLowerCase();
    if (value === undefined || value === '') return undefined;
    if (value === 'true' || value === '1') return true;
    if (value === 'false' || value === '0') return false;
    throw invalid(`${name} must be true or false`);
  }
}

const INTEGER = { pattern: /^-?\d{1,15}$/, what: 'an integer' };
const DECIMAL = { pattern: /^-?\d{1,15}(\.\d{1,15})?$/, what: 'a number' };

function parsed(kind: typeof INTEGER, name: string, value: string, min: number, max: number): number {
  const n = kind.pattern.test(value) ? Number(value) : Number.NaN;
  if (!(n >= min && n <= max)) throw invalid(`${name} must be ${kind.what} from ${min} to ${max}`);
  return n;
}

const toInt = (name: string, value: string, min: number, max: number) =>
  parsed(INTEGER, name, value, min, max);
const toNumber = (name: string, value: string, min: number, max: number) =>
  parsed(DECIMAL, name, value, min, max);
