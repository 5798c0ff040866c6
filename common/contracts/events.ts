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

/** Most entries a playlist file may hold, and its largest size: a larger one is refused whole. */
export const PLAYLIST_FILE_MAX_ENTRIES = 10_000;
export const PLAYLIST_FILE_MAX_BYTES = 1024 * 1024;
/** Most entries not found that an event (and the playlist) names; `missingCount` counts them all. */
export const PLAYLIST_FILE_MISSING_MAX = 100;

/** An entry of a playlist file that names no track of the library, and why. */
export const missingEntrySchema = z.object({
  /** 1-based line of the file. */
  line: z.number().int().min(1),
  entry: z.string().max(1000),
  reason: z.string().max(200),
});
export type MissingEntry = z.infer<typeof missingEntrySchema>;

const playlistFileKey = {
  libraryId: z.number().int().min(1),
  /** The file's path relative to its library's folder. */
  path: z.string().min(1).max(4096),
  /** Increases with every event of the catalog about playlist files: an older one is passed over. */
  version: z.number().int().min(1),
};

/**
 * A `.m3u` / `.m3u8` file of a library, as the catalog read it (new, changed, or its entries
 * found differently since). With `error` the file was refused whole (too large, too many
 * entries, unreadable): its playlist keeps the tracks it had.
 */
export const playlistFileChangedSchema = z.object({
  ...playlistFileKey,
  name: z.string().min(1).max(200),
  /** The library's owner (a user id), or null: the first administrator owns it. */
  ownerId: z.string().min(1).max(100).nullable(),
  /** The tracks found, in the file's order, with their durations. */
  trackIds: z.array(z.string().min(1).max(100)).max(PLAYLIST_FILE_MAX_ENTRIES),
  durationsMs: z.array(z.number().int().min(0)).max(PLAYLIST_FILE_MAX_ENTRIES),
  missing: z.array(missingEntrySchema).max(PLAYLIST_FILE_MISSING_MAX),
  missingCount: z.number().int().min(0),
  error: z.string().max(500).optional(),
});
export type PlaylistFileChanged = z.infer<typeof playlistFileChangedSchema>;

/** A playlist file left its library (deleted, moved, or its library removed). */
export const playlistFileRemovedSchema = z.object(playlistFileKey);
export type PlaylistFileRemoved = z.infer<typeof playlistFileRemovedSchema>;

export const Events = {
  trackPlayed: defineEvent('track.played', trackPlayedSchema),
  playlistChanged: defineEvent('playlist.changed', playlistChangedSchema),
  userRegistered: defineEvent('user.registered', userRegisteredSchema),
  userDeleted: defineEvent('user.deleted', userDeletedSchema),
  playbackStarted: defineEvent('playback.started', playbackStartedSchema),
  playlistFileChanged: defineEvent('playlist-file.changed', playlistFileChangedSchema),
  playlistFileRemoved: defineEvent('playlist-file.removed', playlistFileRemovedSchema),
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
