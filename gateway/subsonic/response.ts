import { randomBytes } from 'node:crypto';
import type { Response } from 'express';

/** The Subsonic REST API version this server speaks (the last one; OpenSubsonic builds on it). */
export const API_VERSION = '1.16.1';
export const SERVER_TYPE = 'music-streaming';
export const SERVER_VERSION = '0.1.0';
const XMLNS = 'http://subsonic.org/restapi';

/** The API's error codes (OpenSubsonic adds 41-44). */
export const SubsonicCodes = {
  GENERIC: 0,
  MISSING_PARAMETER: 10,
  CLIENT_TOO_OLD: 20,
  SERVER_TOO_OLD: 30,
  WRONG_CREDENTIALS: 40,
  CONFLICTING_AUTH: 43,
  INVALID_API_KEY: 44,
  NOT_AUTHORIZED: 50,
  NOT_FOUND: 70,
} as const;

export class SubsonicError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'SubsonicError';
  }
}

export const missing = (name: string) =>
  new SubsonicError(SubsonicCodes.MISSING_PARAMETER, `required parameter is missing: ${name}`);

/**
 * Text the API puts in an element of its own in XML (`<biography>...</biography>`) and as a
 * plain string in JSON.
 */
export class ElementText {
  constructor(readonly text: string) {}

  toJSON(): string {
    return this.text;
  }
}

export const elementText = (text: string) => new ElementText(text);

/**
 * A response body: scalars become XML attributes, objects and arrays child elements, and a
 * `value` key the element's text (the API's `<genre songCount="3">Rock</genre>`).
 */
export type Body = { [key: string]: Value };
export type Value = string | number | boolean | null | undefined | ElementText | Body | Value[];

export type Format = { kind: 'xml' } | { kind: 'json' } | { kind: 'jsonp'; callback: string };

const CALLBACK = /^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*$/;

/** `f=json`, `f=jsonp` with a safe `callback`, else the API's default, XML. */
export function pickFormat(f: string | undefined, callback: string | undefined): Format {
  if (f === 'json') return { kind: 'json' };
  if (f === 'jsonp' && callback !== undefined && callback.length <= 100 && CALLBACK.test(callback)) {
    return { kind: 'jsonp', callback };
  }
  if (f === 'jsonp') return { kind: 'json' };
  return { kind: 'xml' };
}

function envelope(status: 'ok' | 'failed', body: Body): Body {
  return {
    status,
    version: API_VERSION,
    type: SERVER_TYPE,
    serverVersion: SERVER_VERSION,
    openSubsonic: true,
    ...body,
  };
}

// Characters XML 1.0 cannot carry at all, even escaped: they are dropped.
const NOT_XML =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
  /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&apos;',
};

export function escapeXml(text: string): string {
  return text.replace(NOT_XML, '').replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

const isScalar = (v: Value): v is string | number | boolean =>
  typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';

/**
 * Parts of bodies rendered once and reused by every response that carries them (the artist
 * index of a 20,000-artist library, shared by every caller until the catalog changes): their
 * JSON text, and their XML per element name, are made on first use and kept with them. A kept
 * part must never change afterwards.
 */
const kept = new WeakMap<object, { json?: string; xml: Map<string, string> }>();

/** Marks `value` (an object or array of a body) as rendered once; returns it. */
export function renderOnce<T extends Body | Value[]>(value: T): T {
  if (!kept.has(value)) kept.set(value, { xml: new Map() });
  return value;
}

/**
 * Stands in for a kept part in JSON.stringify's output: a control character (which JSON writes
 * as the ASCII `\u0001`, so the answer stays a one-byte string, quick to send) and a nonce.
 */
const NONCE = randomBytes(6).toString('hex');
const MARK = `\u0001kept${NONCE}:`;
const MARKED = new RegExp(`"\\\\u0001kept${NONCE}:(\\d+)"`, 'g');

/** JSON of a body, empty lists left out, kept parts spliced in as rendered once (`self`: the part being rendered). */
function toJson(value: unknown, self?: object): string {
  const parts: object[] = [];
  const json = JSON.stringify(value, (_key, v: unknown) => {
    if (Array.isArray(v) && v.length === 0) return undefined;
    if (v !== self && typeof v === 'object' && v !== null && kept.has(v)) {
      parts.push(v);
      return `${MARK}${parts.length - 1}`;
    }
    return v;
  });
  if (parts.length === 0) return json;
  // Joined, not replaced: the kept texts are not copied here (the answer is copied once, when sent).
  let out = '';
  let last = 0;
  for (const m of json.matchAll(MARKED)) {
    const part = parts[Number(m[1])]!;
    const cache = kept.get(part)!;
    cache.json ??= toJson(part, part);
    out += json.slice(last, m.index) + cache.json;
    last = m.index + m[0].length;
  }
  return out + json.slice(last);
}

function element(name: string, value: Value, out: string[]): void {
  if (value === null || value === undefined) return;
  const cache = typeof value === 'object' ? kept.get(value) : undefined;
  if (cache) {
    let xml = cache.xml.get(name);
    if (xml === undefined) {
      const parts: string[] = [];
      kept.delete(value as object);
      try {
        element(name, value, parts);
      } finally {
        kept.set(value as object, cache);
      }
      xml = parts.join('');
      cache.xml.set(name, xml);
    }
    out.push(xml);
    return;
  }
  if (Array.isArray(value)) {
    for (const item of value) element(name, item, out);
    return;
  }
  if (isScalar(value) || value instanceof ElementText) {
    const text = escapeXml(value instanceof ElementText ? value.text : String(value));
    out.push(text === '' ? `<${name}/>` : `<${name}>${text}</${name}>`);
    return;
  }
  let attributes = '';
  let text = '';
  const children: string[] = [];
  for (const [key, child] of Object.entries(value)) {
    if (key === 'value' && isScalar(child)) text = escapeXml(String(child));
    else if (isScalar(child)) attributes += ` ${key}="${escapeXml(String(child))}"`;
    else element(key, child, children);
  }
  if (children.length === 0 && text === '') out.push(`<${name}${attributes}/>`);
  else out.push(`<${name}${attributes}>${text}${children.join('')}</${name}>`);
}

/** The whole `subsonic-response` document in the asked format, with its content type. */
export function render(
  status: 'ok' | 'failed',
  body: Body,
  format: Format,
): { contentType: string; text: string } {
  const full = envelope(status, body);
  if (format.kind === 'xml') {
    const out: string[] = [];
    element('subsonic-response', { xmlns: XMLNS, ...full }, out);
    return {
      contentType: 'text/xml; charset=utf-8',
      text: `<?xml version="1.0" encoding="UTF-8"?>\n${out.join('')}`,
    };
  }
  // Empty lists are left out, as they are in XML (where an empty list is no elements at all).
  const json = toJson({ 'subsonic-response': full });
  if (format.kind === 'jsonp') {
    return { contentType: 'application/javascript; charset=utf-8', text: `${format.callback}(${json});` };
  }
  return { contentType: 'application/json; charset=utf-8', text: json };
}

export function send(
  res: Response,
  status: 'ok' | 'failed',
  body: Body,
  format: Format,
  httpStatus = 200,
): void {
  const { contentType, text } = render(status, body, format);
  res.status(httpStatus).type(contentType).send(text);
}

/** Errors are answered with `status="failed"` and HTTP 200, as the API does. */
export function sendError(res: Response, err: SubsonicError, format: Format, httpStatus = 200): void {
  send(res, 'failed', { error: { code: err.code, message: err.message } }, format, httpStatus);
}
