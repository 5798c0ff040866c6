import type { Request, Response } from 'express';
import type { Logger } from 'pino';
import {
  type Album,
  type Artist,
  MAX_IDS,
  type PlayAllowance,
  type PlayDateWindow,
  type Ratings,
  type Starred,
  type Track,
} from '../../common/contracts/index.js';
import { type Caller, type EventPublisher, isAppError, isUnavailable } from '../../common/index.js';
import type { CoverCache } from '../covers.js';
import type { Services } from '../services.js';
import type { Transcoder } from '../transcode.js';
import type { ArtistIndexCache } from './artist-index.js';
import type { Marks } from './models.js';
import type { Params } from './params.js';
import { type Body, type Format, SubsonicCodes, SubsonicError } from './response.js';

export { ifFound } from '../services.js';

/** What every endpoint shares. */
export interface Deps {
  services: Services;
  publisher: EventPublisher;
  log: Logger;
  transcoder: Transcoder;
  covers: CoverCache;
  /** Longest wait for the broker to confirm a scrobble. */
  publishTimeoutMs: number;
  /** How old or new a scrobble's `time` may be. */
  playDates: PlayDateWindow;
  /** How many plays each account may still post (shared with REST). */
  plays: PlayAllowance;
  /** The artist index, kept per catalog version. */
  artistIndex: ArtistIndexCache;
}

/** One request to an endpoint, made by an authenticated caller. */
export interface Call {
  params: Params;
  caller: Caller;
  /** RPC options acting as the caller. */
  as: { caller: Caller };
  /** `musicFolderId`: the one library (of those the caller sees) a listing is limited to. */
  library: number | undefined;
  req: Request;
  res: Response;
  /** The player's name (`c`), as the services take it. */
  client: string;
  /** The format the answer is asked in (`f`, `callback`). */
  format: Format;
  /** What the caller starred, fetched once per request on first use. */
  starred(): Promise<Starred>;
  /** What the caller rated (fetched once, on first use). */
  ratings(): Promise<Ratings>;
  /** What the caller starred and rated, by id, for marking items (fetched once, on first use). */
  marks(): Promise<Marks>;
}

/** Marks an answer the endpoint already sent itself (audio, images). */
export const SENT = Symbol('sent');

/** Returns the body to send inside `subsonic-response`, or SENT. */
export type Endpoint = (call: Call, deps: Deps) => Promise<Body | typeof SENT>;

/**
 * The value of a call to a service the API can do without (history, stats): when it is down
 * or slow the answer degrades to `fallback` instead of failing.
 */
export async function orElse<T>(call: Promise<T>, fallback: T, log: Logger, what: string): Promise<T> {
  try {
    return await call;
  } catch (err) {
    if (isUnavailable(err) || isAppError(err, 'METHOD_NOT_FOUND')) {
      log.warn({ err: (err as Error).message }, `${what} unavailable; answering without it`);
      return fallback;
    }
    throw err;
  }
}

/** Distinct values in first-seen order. */
export const distinct = (values: readonly string[]) => [...new Set(values)];

/**
 * `load` over `ids` in as few calls as the ids need, results in the order asked. No ids with
 * a `library` still make one call: the catalog says whether the caller may use that library.
 */
async function inBatches<T>(
  ids: readonly string[],
  library: number | undefined,
  load: (batch: string[]) => Promise<T[]>,
): Promise<T[]> {
  const batches: string[][] = [];
  for (let i = 0; i < ids.length; i += MAX_IDS) batches.push(ids.slice(i, i + MAX_IDS));
  if (batches.length === 0 && library !== undefined) batches.push([]);
  return (await Promise.all(batches.map(load))).flat();
}

/** Tracks by id, in the given order, unknown ids (and those of other libraries than `library`) left out. */
export const tracksByIds = (deps: Deps, ids: readonly string[], library?: number): Promise<Track[]> =>
  inBatches(ids, library, (batch) => deps.services.catalog.call('getTracks', { ids: batch, library }));

/** Albums by id, in the given order, unknown ids left out. */
export const albumsByIds = (deps: Deps, ids: readonly string[], library?: number): Promise<Album[]> =>
  inBatches(ids, library, (batch) => deps.services.catalog.call('getAlbums', { ids: batch, library }));

/** Artists by id, in the given order, unknown ids left out. */
export const artistsByIds = (deps: Deps, ids: readonly string[], library?: number): Promise<Artist[]> =>
  inBatches(ids, library, (batch) => deps.services.catalog.call('getArtists', { ids: batch, library }));

/** The tracks of `ids` by id; any id the catalog does not know is error 70, naming them all. */
export async function requireTracks(deps: Deps, ids: readonly string[]): Promise<Map<string, Track>> {
  const found = new Map((await tracksByIds(deps, distinct(ids))).map((t) => [t.id, t]));
  const unknown = distinct(ids.filter((id) => !found.has(id)));
  if (unknown.length > 0) {
    throw new SubsonicError(
      SubsonicCodes.NOT_FOUND,
      `unknown song${unknown.length > 1 ? 's' : ''}: ${unknown.slice(0, 20).join(', ')}`,
    );
  }
  return found;
}
