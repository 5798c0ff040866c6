import { z } from 'zod';
import type { QueueDeclaration } from '../events/topology.js';

/**
 * Every event type on the bus, its data schema, and the consumer groups that listen to it.
 * Publishers declare these queues too, so an event published before its consumers first
 * started waits for them instead of being dropped.
 */
export const EventTypes = {
  TRACK_PLAYED: 'track.played',
  PLAYLIST_CHANGED: 'playlist.changed',
  USER_REGISTERED: 'user.registered',
} as const;

export const trackPlayedSchema = z.object({
  userId: z.string().min(1).max(100),
  trackId: z.string().min(1).max(100),
  playedAt: z.iso.datetime({ offset: true }),
  msPlayed: z
    .number()
    .int()
    .min(0)
    .max(24 * 3600 * 1000),
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

export const EVENT_QUEUES: readonly QueueDeclaration[] = [
  { group: 'history', event: EventTypes.TRACK_PLAYED },
  { group: 'stats', event: EventTypes.TRACK_PLAYED },
  { group: 'stats', event: EventTypes.PLAYLIST_CHANGED },
  { group: 'stats', event: EventTypes.USER_REGISTERED },
];
