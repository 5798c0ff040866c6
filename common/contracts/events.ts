import { z } from 'zod';
import { defineEvent } from '../events/envelope.js';
import type { BatchPolicy } from '../rpc/contract.js';

/**
 * Every event type on the bus and the schema of its data. Which services consume which is
 * declared in their contracts (`subscriptions`), and the consumer-group queues are derived
 * from those declarations (common/system.ts).
 */

/** The longest a play can last (one day). */
export const MAX_MS_PLAYED = 24 * 3600 * 1000;

export const trackPlayedSchema = z.object({
  userId: z.string().min(1).max(100),
  trackId: z.string().min(1).max(100),
  playedAt: z.iso.datetime({ offset: true }),
  msPlayed: z.number().int().min(0).max(MAX_MS_PLAYED),
  source: z.string().max(100).default('api'),
});
export type TrackPlayed = z.infer<typeof trackPlayedSchema>;

export const playlistChangedSchema = z.object({
  playlistId: z.string(),
  ownerId: z.string(),
  change: z.enum(['created', 'renamed', 'visibility', 'tracks', 'deleted']),
  trackCount: z.number().int().min(0).optional(),
});
export type PlaylistChanged = z.infer<typeof playlistChangedSchema>;

export const userRegisteredSchema = z.object({
  userId: z.string(),
  username: z.string(),
});
export type UserRegistered = z.infer<typeof userRegisteredSchema>;

/** An administrator deleted an account: what other services keep for it goes (catalog: library grants). */
export const userDeletedSchema = z.object({
  userId: z.string().min(1).max(100),
});
export type UserDeleted = z.infer<typeof userDeletedSchema>;

/** A player began a track (not a stream inferred to have begun): "now playing" for scrobblers. */
export const playbackStartedSchema = z.object({
  userId: z.string().min(1).max(100),
  trackId: z.string().min(1).max(100),
  startedAt: z.iso.datetime({ offset: true }),
  client: z.string().max(100),
});
export type PlaybackStarted = z.infer<typeof playbackStartedSchema>;

export const Events = {
  trackPlayed: defineEvent('track.played', trackPlayedSchema),
  playlistChanged: defineEvent('playlist.changed', playlistChangedSchema),
  userRegistered: defineEvent('user.registered', userRegisteredSchema),
  userDeleted: defineEvent('user.deleted', userDeletedSchema),
  playbackStarted: defineEvent('playback.started', playbackStartedSchema),
} as const;

/**
 * How consumers that write to the database take their events: up to 100 per transaction. A
 * batch goes at once when none is being handled (a play is stored within a transaction's time),
 * and otherwise fills while the one in hand commits, for up to 25 ms: under load batches grow
 * with the load (group commit), which costs less CPU per play in the worker and the database.
 */
export const DATABASE_BATCH: BatchPolicy = { size: 100, waitMs: 25 };

/** How far back and ahead of the server's clock a play may be dated. */
export interface PlayDateWindow {
  /** Oldest accepted, in ms before now (plays a client kept while offline). */
  maxAgeMs: number;
  /** Latest accepted, in ms after now (clients whose clock runs ahead). */
  maxAheadMs: number;
}

/** Why a play's date is not plausible, naming the field; undefined when it is. */
export function playedAtProblem(
  field: string,
  playedAt: Date,
  window: PlayDateWindow,
  now = Date.now(),
): string | undefined {
  const at = playedAt.getTime();
  if (!Number.isFinite(at)) return `${field} must be a date-time`;
  if (at > now + window.maxAheadMs) {
    return `${field} must not be more than ${Math.round(window.maxAheadMs / 1000)} s in the future`;
  }
  if (at < now - window.maxAgeMs) {
    return `${field} must not be more than ${Math.round(window.maxAgeMs / 86_400_000)} days in the past`;
  }
  return undefined;
}
