import { z } from 'zod';
import { defineContract, method } from '../rpc/contract.js';
import type { Track } from './catalog.js';
import { id } from './shared.js';

export interface Playlist {
  id: string;
  ownerId: string;
  ownerName: string;
  name: string;
  public: boolean;
  trackCount: number;
  durationMs: number;
  createdAt: string;
  updatedAt: string;
}

export interface PlaylistEntry {
  /** 0-based position in the playlist. */
  position: number;
  track: Track;
}

export interface PlaylistDetail extends Playlist {
  tracks: PlaylistEntry[];
}

const name = z.string().trim().min(1, 'name must not be empty').max(200);
const position = z.number().int().min(0).max(100_000);

/** Every method acts as the authenticated caller; only the owner may change a playlist or see it while private. */
export const playlistsContract = defineContract('playlists', {
  create: method(
    z.strictObject({ name, public: z.boolean().default(false), trackIds: z.array(id).max(1000).optional() }),
  ).returns<PlaylistDetail>(),
  /** The caller's playlists, or another user's public ones with `ownerId`. */
  list: method(z.strictObject({ ownerId: id.optional() })).returns<Playlist[]>(),
  get: method(z.strictObject({ id })).returns<PlaylistDetail>(),
  rename: method(z.strictObject({ id, name })).returns<Playlist>(),
  setPublic: method(z.strictObject({ id, public: z.boolean() })).returns<Playlist>(),
  delete: method(z.strictObject({ id })).returns<{ deleted: true }>(),
  /** Adds tracks at `position` (default: the end). */
  addTracks: method(
    z.strictObject({ id, trackIds: z.array(id).min(1).max(1000), position: position.optional() }),
  ).returns<PlaylistDetail>(),
  /** Replaces all of a playlist's tracks in one step (an empty list clears it). */
  replaceTracks: method(z.strictObject({ id, trackIds: z.array(id).max(10_000) })).returns<PlaylistDetail>(),
  removeTrack: method(z.strictObject({ id, position })).returns<PlaylistDetail>(),
  moveTrack: method(z.strictObject({ id, from: position, to: position })).returns<PlaylistDetail>(),
});
export type PlaylistsContract = typeof playlistsContract;
