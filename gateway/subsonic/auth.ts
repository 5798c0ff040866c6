import { type Caller, isAppError } from '../../common/index.js';
import type { Authenticator, SubsonicCredentials } from '../auth.js';
import type { Params } from './params.js';
import { missing, SubsonicCodes, SubsonicError } from './response.js';

export type Credentials = SubsonicCredentials;

const conflicting = (message: string) => new SubsonicError(SubsonicCodes.CONFLICTING_AUTH, message);

/** `p` is the password, or `enc:` and its UTF-8 bytes in hex. */
export function decodePassword(p: string): string {
  if (!p.startsWith('enc:')) return p;
  const hex = p.slice(4);
  if (!/^(?:[0-9a-f]{2})*$/i.test(hex)) {
    throw new SubsonicError(
      SubsonicCodes.WRONG_CREDENTIALS,
      'p=enc: must be followed by the password in hex',
    );
  }
  return Buffer.from(hex, 'hex').toString('utf8');
}

/**
 * The credentials of a request: `apiKey` alone (OpenSubsonic), or `u` with `t` and `s`
 * (t = md5(password + s)), or `u` with `p`. Mixing mechanisms is error 43, as the API says.
 */
export function readCredentials(params: Params): Credentials {
  const [apiKey, u, p, t, s] = ['apiKey', 'u', 'p', 't', 's'].map((name) => params.string(name));
  if (apiKey) {
    if (u !== undefined || p !== undefined || t !== undefined || s !== undefined) {
      throw conflicting('apiKey must not be combined with u, p, t or s');
    }
    return { apiKey };
  }
  if (!u) throw missing('u');
  if (p !== undefined && (t !== undefined || s !== undefined)) {
    throw conflicting('give either p or t and s, not both');
  }
  if (t !== undefined || s !== undefined) {
    if (!t) throw missing('t');
    if (!s) throw missing('s');
    return { username: u, token: t, salt: s };
  }
  if (p === undefined) throw missing('p (or t and s, or apiKey)');
  return { username: u, password: decodePassword(p) };
}

/**
 * The caller of a request's credentials, checked by the gateway's one authenticator; wrong or
 * unreadable credentials are the API's own errors (40, 44), a throttled guesser error 0 saying
 * how long to wait.
 */
export async function subsonicCaller(
  auth: Authenticator,
  credentials: Credentials,
  clientAddress: string | undefined,
): Promise<Caller> {
  try {
    return await auth.subsonic(credentials, clientAddress);
  } catch (err) {
    // Credentials too long for the contract are simply wrong ones.
    if (isAppError(err, 'UNAUTHORIZED') || isAppError(err, 'INVALID_PARAMS')) {
      throw 'apiKey' in credentials
        ? new SubsonicError(SubsonicCodes.INVALID_API_KEY, 'invalid API key')
        : new SubsonicError(
            SubsonicCodes.WRONG_CREDENTIALS,
            isAppError(err, 'UNAUTHORIZED') ? err.message : 'wrong username or password',
          );
    }
    throw err;
  }
}
