import { z } from 'zod';
import { internalMethod, userMethod } from '../rpc/contract.js';
import type { Track } from './catalog.js';
import { id, paging } from './shared.js';

/**
 * Share links: a user shares a track, an album or one of their own playlists through an
 * unguessable link (`/s/<token>`) that plays exactly what was shared, without an account.
 * The methods belong to the playlists service (the owner of user collections); the gateway's
 * share endpoints ask `openShare` and `shareTrack`, which are internal: the token is the only
 * credential, and it opens nothing but what the share holds.
 */

export const SHARE_KINDS = ['track', 'album', 'playlist'] as const;
export type ShareKind = (typeof SHARE_KINDS)[number];

/** Most shares one user keeps: a listing (with each share's first entries) stays one bounded answer. */
export const MAX_SHARES_PER_USER = 200;
/** Entries of each share in a listing (Subsonic `getShares`): the first ones; the link plays them all. */
export const SHARE_LIST_ENTRIES = 20;
export const SHARE_DESCRIPTION_MAX = 500;
/** The furthest expiry a share may have, in days from now. */
export const SHARE_MAX_DAYS = 3660;
/** A share's token: 32 random bytes (256 bits) in base64url, 43 characters. */
export const SHARE_TOKEN = /^[A-Za-z0-9_-]{43}$/;
export const shareToken = z.string().regex(SHARE_TOKEN, 'not a share token');

/** Where a share is opened, relative to the gateway's origin. */
export const sharePath = (token: string) => `/s/${token}`;

/** One of the caller's shares, as its owner sees it (with its link). */
export interface Share {
  id: string;
  kind: ShareKind;
  /** The shared track's, album's or playlist's id. */
  itemId: string;
  /** Its title or name ('' when it is gone from the catalog). */
  name: string;
  description: string;
  downloadable: boolean;
  expiresAt: string | null;
  /** Whether the link still opens (not expired). */
  expired: boolean;
  createdAt: string;
  lastVisitedAt: string | null;
  visitCount: number;
  token: string;
  /** `/s/<token>`: the page that plays it, relative to the gateway's origin. */
  path: string;
  ownerName: string;
  /** How many tracks the link plays. */
  trackCount: number;
  /** Its first SHARE_LIST_ENTRIES tracks. */
  entries: Track[];
}

/** What a link shows to whoever opens it: no ids of the owner, no token. */
export interface OpenedShare {
  kind: ShareKind;
  name: string;
  description: string;
  ownerName: string;
  downloadable: boolean;
  expiresAt: string | null;
  trackCount: number;
  /** The tracks at `offset` to `offset + limit - 1`. */
  tracks: Track[];
  offset: number;
  limit: number;
}

/** The answer to "may this share's link play this track?": yes, with what the gateway needs. */
export interface ShareAccess {
  shareId: string;
  trackId: string;
  downloadable: boolean;
}

const description = z.string().trim().max(SHARE_DESCRIPTION_MAX);
const expiresAt = z.iso.datetime({ offset: true }).nullable();

export const shareMethods = {
  /** Shares a track or an album of the catalog, or one of the caller's own playlists. */
  createShare: userMethod(
    z.strictObject({
      kind: z.enum(SHARE_KINDS),
      id,
      description: description.default(''),
      expiresAt: expiresAt.default(null),
      downloadable: z.boolean().default(false),
    }),
  ).returns<Share>(),
  /** The caller's shares, newest first (at most MAX_SHARES_PER_USER, expired ones included). */
  listShares: userMethod(z.strictObject({})).returns<Share[]>(),
  /** Changes a share's description, expiry (`null`: never) or downloadability; only its owner may. */
  updateShare: userMethod(
    z
      .strictObject({ id, description, expiresAt, downloadable: z.boolean() })
      .partial()
      .required({ id: true }),
  ).returns<Share>(),
  deleteShare: userMethod(z.strictObject({ id })).returns<{ deleted: true }>(),
  /**
   * What a link shows: a page of its tracks. `visit` counts the opening (the page's first
   * load). An expired, deleted or unknown token is NotFound, all alike.
   */
  openShare: internalMethod(
    z.strictObject({
      token: shareToken,
      limit: paging.limit,
      offset: z.number().int().min(0).max(10_000).default(0),
      visit: z.boolean().default(false),
    }),
  ).returns<OpenedShare>(),
  /** Whether the link may play `trackId` (NotFound otherwise, however the token or track is wrong). */
  shareTrack: internalMethod(z.strictObject({ token: shareToken, trackId: id })).returns<ShareAccess>(),
};
