import { createHash, randomBytes } from 'node:crypto';
import { SubsonicAPI } from 'subsonic-api';
import { expect } from 'vitest';
import type { User, UsersContract } from '../../common/contracts/users.js';
import type { ServiceClient } from '../../common/rpc/client.js';
import type { Caller } from '../../common/rpc/contract.js';
import { parseXml, type XmlElement } from './xml.js';

export type Params = Record<string, string | number | boolean | Array<string | number>>;
// biome-ignore lint/suspicious/noExplicitAny: answers are checked field by field
export type Json = any;

export const md5 = (text: string) => createHash('md5').update(text, 'utf8').digest('hex');

export interface Account {
  user: User;
  caller: Caller;
  password: string;
  /** A subsonic-api client using token auth with a fresh salt per request. */
  api: SubsonicAPI;
}

export interface Reply {
  status: number;
  headers: Headers;
  text: string;
  body: Buffer;
}

/**
 * Requests to a Subsonic API at `url()` (ending in `/rest`), by plain fetch and through the
 * published `subsonic-api` client, with the checks every answer must pass.
 */
export function subsonicClient(url: () => string, users: () => ServiceClient<UsersContract>) {
  const run = randomBytes(2).toString('hex');
  const origin = () => url().replace(/\/rest$/, '');

  /** A new user (`<name>_<run>`) with a client library logged in as them. */
  async function account(name: string, password = `${name}-password`): Promise<Account> {
    const user = await users().call('register', { username: `${name}_${run}`, password });
    return {
      user,
      password,
      caller: { userId: user.id, username: user.username, admin: false },
      api: new SubsonicAPI({ url: origin(), auth: { username: user.username, password } }),
    };
  }

  /** u, t and s for `who`, with a fresh salt. */
  function token(who: { user: User; password: string }): Params {
    const s = randomBytes(8).toString('hex');
    return { u: who.user.username, t: md5(who.password + s), s };
  }

  /** A request with the given parameters (repeated keys for arrays), by GET or form POST. */
  async function request(
    method: string,
    params: Params,
    opts: { post?: boolean; headers?: Record<string, string>; signal?: AbortSignal } = {},
  ): Promise<Reply> {
    const res = await send(method, params, opts);
    const body = Buffer.from(await res.arrayBuffer());
    return { status: res.status, headers: res.headers, text: body.toString('utf8'), body };
  }

  /** The response itself, its body unread (streams). */
  function send(
    method: string,
    params: Params,
    opts: { post?: boolean; headers?: Record<string, string>; signal?: AbortSignal } = {},
  ): Promise<Response> {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries({ v: '1.16.1', c: 'vitest', ...params })) {
      for (const v of Array.isArray(value) ? value : [value]) query.append(key, String(v));
    }
    return opts.post
      ? fetch(`${url()}/${method}`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', ...opts.headers },
          body: query.toString(),
          signal: opts.signal,
        })
      : fetch(`${url()}/${method}?${query}`, { headers: opts.headers, signal: opts.signal });
  }

  /** The `subsonic-response` of a JSON call, checking the envelope every answer carries. */
  async function json(method: string, params: Params, opts: { post?: boolean } = {}): Promise<Json> {
    const reply = await request(method, { f: 'json', ...params }, opts);
    expect(reply.status).toBe(200);
    expect(reply.headers.get('content-type')).toMatch(/^application\/json/);
    const body = JSON.parse(reply.text)['subsonic-response'];
    expect(body).toMatchObject({ version: '1.16.1', openSubsonic: true, type: 'music-streaming' });
    expect(typeof body.serverVersion).toBe('string');
    return body;
  }

  async function xml(method: string, params: Params): Promise<XmlElement> {
    const reply = await request(method, params);
    expect(reply.status).toBe(200);
    expect(reply.headers.get('content-type')).toMatch(/^text\/xml/);
    const root = parseXml(reply.text);
    expect(root.name).toBe('subsonic-response');
    expect(root.attributes).toMatchObject({ xmlns: 'http://subsonic.org/restapi', version: '1.16.1' });
    return root;
  }

  /** Expects a failed JSON answer with `code` (and HTTP 200, as the API does); returns the message. */
  async function fails(method: string, params: Params, code: number): Promise<string> {
    const body = await json(method, params);
    expect(body.status).toBe('failed');
    expect(body.error.code).toBe(code);
    expect(typeof body.error.message).toBe('string');
    return body.error.message as string;
  }

  return { run, origin, account, token, request, send, json, xml, fails };
}
