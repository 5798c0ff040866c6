import type { Request, Response } from 'express';
import type { Logger } from 'pino';
import type { Album, Artist, Track } from '../../common/contracts/catalog.js';
import type { PlayDateWindow } from '../../common/contracts/events.js';
import type { Page } from '../../common/contracts/shared.js';
import type { Starred } from '../../common/contracts/users.js';
import { isAppError } from '../../common/errors.js';
import type { EventPublisher } from '../../common/events/publisher.js';
import type { Caller } from '../../common/rpc/contract.js';
import type { Services } from '../services.js';
import type { Stars } from './models.js';
import type { NowPlaying } from './now-playing.js';
import type { Params } from './params.js';
import { type Body, SubsonicCodes, SubsonicError } from './response.js';

/** What every endpoint shares. */
export interface Deps {
  services: Services;
  publisher: EventPublisher;
  log: Logger;
  nowPlaying: NowPlaying;
  /** Longest wait for the broker to confirm a scrobble. */
  publishTimeoutMs: number;
  /** How old or new a scrobble's `time` may be. */
  playDates: PlayDateWindow;
}

/** One request to an endpoint, made by an authenticated caller. */
export interface Call {
  params: Params;
  caller: Caller;
  /** RPC options acting as the caller. */
  as: { caller: Caller };
  req: Request;
  res: Response;
  /** What the caller starred, fetched once per request on first use. */
  starred(): Promise<Starred>;
  /** The same, by id, for marking items. */
  stars(): Promise<Stars>;
}

/** Marks an answer the endpoint already sent itself (audio, images). */
export const SENT = Symbol('sent');

/** Returns the body to send inside `subsonic-response`, or SENT. */
export type Endpoint = (call: Call, deps: Deps) => Promise<Body | typeof SENT>;

/** The value of `lookup`, or undefined when what it looks up does not exist. */
export async function ifFound<T>(lookup: Promise<T>): Promise<T | undefined> {
  try {
    return await lookup;
  } catch (err) {
    if (isAppError(err, 'NOT_FOUND')) return undefined;
    throw err;
  }
}

/**
 * The value of a call to a service the API can do without (history, stats): when it is down
 * or slow the answer degrades to `fallback` instead of failing.
 */
export async function orElse<T>(call: Promise<T>, fallback: T, log: Logger, what: string): Promise<T> {
  try {
    return await call;
  } catch (err) {
    if (isAppError(err, 'UNAVAILABLE') || isAppError(err, 'TIMEOUT') || isAppError(err, 'METHOD_NOT_FOUND')) {
      log.warn({ err: (err as Error).message }, `${what} unavailable; answering without it`);
      return fallback;
    }
    throw err;
  }
}

/** Every item of a paged catalog listing (the catalog pages at most 500 at a time). */
export async function everything<T>(page: (limit: number, offset: number) => Promise<Page<T>>): Promise<T[]> {
  const items: T[] = [];
  for (;;) {
    const next = await page(500, items.length);
    items.push(...next.items);
    if (next.items.length === 0 || items.length >= next.total) return items;
  }
}

/** Albums by id, in the given order, leaving out ids the catalog does not know. */
export async function albumsByIds(deps: Deps, ids: readonly string[]): Promise<Album[]> {
  const found = await Promise.all(ids.map((id) => ifFound(deps.services.catalog.call('getAlbum', { id }))));
  return found.filter((a) => a !== undefined).map(({ tracks: _tracks, ...a }) => a);
}

export async function artistsByIds(deps: Deps, ids: readonly string[]): Promise<Artist[]> {
  const found = await Promise.all(ids.map((id) => ifFound(deps.services.catalog.call('getArtist', { id }))));
  return found.filter((a) => a !== undefined).map(({ albums: _albums, ...a }) => a);
}

/** Distinct values in first-seen order. */
export const distinct = (values: readonly string[]) => [...new Set(values)];

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

/** Tracks by id, in the given order, unknown ids left out (in as few calls as the ids need). */
export async function tracksByIds(deps: Deps, ids: readonly string[]): Promise<Track[]> {
  const batches: string[][] = [];
  for (let i = 0; i < ids.length; i += 1000) batches.push(ids.slice(i, i + 1000));
  const found = await Promise.all(
    batches.map((batch) => deps.services.catalog.call('getTracks', { ids: batch })),
  );
  return found.flat();
}
