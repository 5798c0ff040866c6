import { createHash } from 'node:crypto';
import { RateLimitedError } from '../errors.js';
import { MAX_MS_PLAYED, type TrackPlayed, trackPlayedSchema } from './events.js';

export { isKeptPlay, type KeptPlay } from './kept-play.js';

/**
 * A play, whichever door it comes through (REST, Subsonic's scrobble, a player's playback
 * report): how many one request may carry, how its event id is made, what it holds, and how
 * many one account may post. Every door builds its plays here.
 */

/** A play counts (for a playback report, and for ListenBrainz and Last.fm) once heard this long, or half the track. */
export const PLAY_AFTER_MS = 4 * 60_000;

/** Whether `msPlayed` of a track of `durationMs` is heard enough to count: half of it, or 4 minutes. */
export const heardEnough = (msPlayed: number, durationMs: number): boolean =>
  msPlayed > 0 && msPlayed >= Math.min(durationMs / 2, PLAY_AFTER_MS);

/** Most plays in one request (a client sending the plays it kept while offline). */
export const MAX_PLAYS_PER_REQUEST = 500;

/**
 * A play's event id derived from who played and a key naming the play (a client's play id, or
 * a track and a time): a retry of the same play is the same event, counted once, and no one
 * can make an id that collides with another user's plays. Shaped as a UUID (version 5 bits).
 */
export function playEventId(userId: string, key: string): string {
  const h = createHash('sha256').update(`${userId}:${key}`).digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const hex = h.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * The `track.played` data of a play. Without a figure for `msPlayed` the whole track was
 * heard (a scrobble says no more), and no play lasts longer than the track or a day.
 */
export function makePlay(play: {
  userId: string;
  trackId: string;
  playedAt: Date;
  durationMs: number;
  msPlayed?: number | undefined;
  source: string;
}): TrackPlayed {
  const whole = Math.min(Math.round(play.durationMs), MAX_MS_PLAYED);
  return trackPlayedSchema.parse({
    userId: play.userId,
    trackId: play.trackId,
    playedAt: play.playedAt.toISOString(),
    msPlayed: play.msPlayed === undefined ? whole : Math.min(play.msPlayed, MAX_MS_PLAYED),
    source: play.source,
  });
}

/**
 * How many plays one account may post: a bucket of `perHour` plays (at least one full
 * request's worth), refilled evenly over the hour. 1,000 an hour is one play every 3.6 s for
 * hours on end, which no one listening reaches; an account beyond it is a machine, and is
 * refused (429 with the wait) before anything is published.
 */
export class PlayAllowance {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly capacity: number;

  constructor(
    private readonly perHour: number,
    private readonly now: () => number = Date.now,
  ) {
    this.capacity = Math.max(perHour, MAX_PLAYS_PER_REQUEST);
  }

  /** Takes `count` plays of `userId`'s allowance, or throws RateLimitedError saying how long to wait. */
  take(userId: string, count: number): void {
    const now = this.now();
    const refillPerMs = this.perHour / 3_600_000;
    const bucket = this.buckets.get(userId) ?? { tokens: this.capacity, at: now };
    const tokens = Math.min(this.capacity, bucket.tokens + (now - bucket.at) * refillPerMs);
    if (tokens < count) {
      const retryAfterSeconds = Math.max(1, Math.ceil((count - tokens) / refillPerMs / 1000));
      this.buckets.set(userId, { tokens, at: now });
      throw new RateLimitedError(
        `this account has posted more plays than anyone listens to (${this.perHour} an hour); try again in ${retryAfterSeconds} s`,
        { retryAfterSeconds },
      );
    }
    this.buckets.set(userId, { tokens: tokens - count, at: now });
    // Full buckets are the default: forget them, so the map holds only recent posters.
    if (this.buckets.size > 10_000) {
      for (const [id, b] of this.buckets) {
        if (b.tokens + (now - b.at) * refillPerMs >= this.capacity) this.buckets.delete(id);
      }
    }
  }
}
