import {
  Events,
  heardEnough,
  makePlay,
  type NowPlayingEntry,
  PLAY_AFTER_MS,
  type PlayAllowance,
  type PlaybackState,
} from '../../common/contracts/index.js';
import { enqueueEvent, type Pool, type Queryable, withTransaction } from '../../common/index.js';

/** How long each kind of entry lives without a new report, and other bounds. */
export const NOW_PLAYING_LIMITS = {
  /** Past the computed end of a playing track (a slow next report, a stalled stream). */
  graceMs: 2 * 60_000,
  /** A paused or buffering (starting) player that says nothing more is gone after this. */
  idleMs: 10 * 60_000,
  /** A stopped entry is kept, hidden, this long: a repeated stop report counts no second play. */
  stoppedMs: 30 * 60_000,
  /** Rows expired this long ago are deleted. */
  pruneMs: 60 * 60_000,
  /** Players remembered per user (the least recently heard is forgotten). */
  playersPerUser: 20,
  /** Entries listed at most. */
  listed: 100,
  /** A playback counts as a play once it reached half the track or this far (Last.fm's rule). */
  playAfterMs: PLAY_AFTER_MS,
} as const;

export interface PlaybackReport {
  trackId: string;
  state: PlaybackState;
  positionMs: number;
  playbackRate: number;
  ignoreScrobble: boolean;
  inferred: boolean;
  client: string;
}

interface Row {
  track_id: string;
  duration_ms: number;
  state: PlaybackState;
  position_ms: number;
  playback_rate: number;
  reported: boolean;
  started_at: Date;
  updated_at: Date;
  expires_at: Date;
}

/** When an entry reported at `now` stops being shown. */
export function expiresAt(
  r: { state: PlaybackState; positionMs: number; playbackRate: number },
  durationMs: number,
  now: number,
): number {
  const L = NOW_PLAYING_LIMITS;
  if (r.state === 'stopped') return now + L.stoppedMs;
  if (r.state === 'playing' && r.playbackRate > 0) {
    return now + Math.max(0, durationMs - r.positionMs) / r.playbackRate + L.graceMs;
  }
  return now + L.idleMs;
}

/** Whether a playback that stopped at `positionMs` was heard enough to count as a play. */
export const countsAsPlay = heardEnough;

/** Where a player is now: a playing one has moved on since its report, at its rate. */
export function positionNow(
  r: { state: PlaybackState; positionMs: number; playbackRate: number; updatedAt: number },
  durationMs: number,
  now: number,
): number {
  if (r.state !== 'playing') return r.positionMs;
  return Math.round(Math.min(durationMs, r.positionMs + Math.max(0, now - r.updatedAt) * r.playbackRate));
}

/**
 * Records what a player reports. A report continues the playback the entry holds (same
 * track, not stopped, not `starting` again) or begins a new one. A stop ends it: unless told
 * to ignore scrobbling, a playback heard far enough becomes a `track.played` in the outbox,
 * in the transaction that marks it stopped, so it is recorded once.
 */
export async function recordPlayback(
  pool: Pool,
  userId: string,
  report: PlaybackReport,
  durationMs: number,
  now = Date.now(),
  allowance?: PlayAllowance,
): Promise<{ played: boolean }> {
  return withTransaction(pool, async (tx) => {
    const { rows } = await tx.query<Row>(
      `SELECT track_id, duration_ms, state, position_ms, playback_rate, reported, started_at, updated_at,
              expires_at
       FROM now_playing WHERE user_id = $1 AND client = $2 FOR UPDATE`,
      [userId, report.client],
    );
    const row = rows[0];
    const live = row !== undefined && row.expires_at.getTime() > now;
    const current = live && row.state !== 'stopped' ? row : undefined;
    // A stream starting tells less than the player itself: it never replaces its report.
    if (report.inferred && current?.reported) return { played: false };
    if (report.state === 'stopped' && live && row.state === 'stopped' && row.track_id === report.trackId) {
      return { played: false };
    }
    const continues =
      current !== undefined && current.track_id === report.trackId && report.state !== 'starting';
    const startedAt = continues
      ? current.started_at.getTime()
      : now - (report.state === 'stopped' ? report.positionMs / Math.max(report.playbackRate, 0.1) : 0);
    const played =
      report.state === 'stopped' &&
      !report.ignoreScrobble &&
      !report.inferred &&
      countsAsPlay(report.positionMs, durationMs);
    if (played) {
      allowance?.take(userId, 1);
      await enqueueEvent(
        tx,
        Events.trackPlayed,
        makePlay({
          userId,
          trackId: report.trackId,
          playedAt: new Date(startedAt),
          durationMs,
          msPlayed: Math.min(report.positionMs, durationMs),
          source: 'playback-report',
        }),
      );
    }
    // A player beginning a track (itself, not a stream inferred to start) is "now playing" news.
    const begins =
      !continues && !report.inferred && (report.state === 'starting' || report.state === 'playing');
    if (begins) {
      await enqueueEvent(tx, Events.playbackStarted, {
        userId,
        trackId: report.trackId,
        startedAt: new Date(startedAt).toISOString(),
        client: report.client,
      });
    }
    await tx.query(
      `INSERT INTO now_playing (user_id, client, track_id, duration_ms, state, position_ms, playback_rate,
                                reported, started_at, updated_at, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
       ON CONFLICT (user_id, client) DO UPDATE SET track_id = excluded.track_id,
         duration_ms = excluded.duration_ms, state = excluded.state, position_ms = excluded.position_ms,
         playback_rate = excluded.playback_rate, reported = excluded.reported,
         started_at = excluded.started_at, updated_at = excluded.updated_at, expires_at = excluded.expires_at`,
      [
        userId,
        report.client,
        report.trackId,
        Math.round(durationMs),
        report.state,
        report.positionMs,
        report.playbackRate,
        !report.inferred,
        new Date(startedAt),
        new Date(now),
        new Date(expiresAt(report, durationMs, now)),
      ],
    );
    if (row === undefined) await forgetQuietPlayers(tx, userId);
    return { played };
  });
}

/** Keeps the user's most recently heard players only. */
async function forgetQuietPlayers(db: Queryable, userId: string): Promise<void> {
  await db.query(
    `DELETE FROM now_playing WHERE user_id = $1 AND client NOT IN (
       SELECT client FROM now_playing WHERE user_id = $1 ORDER BY updated_at DESC LIMIT $2)`,
    [userId, NOW_PLAYING_LIMITS.playersPerUser],
  );
}

/**
 * Deletes the entries expired more than `pruneMs` ago (reads skip every expired one anyway);
 * how many went. Each users worker runs it every `pruneMs`.
 */
export async function pruneNowPlaying(pool: Pool, now = Date.now()): Promise<number> {
  const { rowCount } = await pool.query('DELETE FROM now_playing WHERE expires_at < $1', [
    new Date(now - NOW_PLAYING_LIMITS.pruneMs),
  ]);
  return rowCount ?? 0;
}

/** Every user's live entries, most recently reported first. */
export async function listNowPlaying(pool: Pool, now = Date.now()): Promise<NowPlayingEntry[]> {
  const { rows } = await pool.query<Row & { username: string; client: string; player_id: string }>(
    `SELECT np.*, u.username FROM now_playing np JOIN users u ON u.id = np.user_id
     WHERE np.expires_at > $1 AND np.state <> 'stopped'
     ORDER BY np.updated_at DESC, np.player_id LIMIT $2`,
    [new Date(now), NOW_PLAYING_LIMITS.listed],
  );
  return rows.map((r) => ({
    username: r.username,
    trackId: r.track_id,
    playerId: Number(r.player_id),
    playerName: r.client,
    state: r.state as NowPlayingEntry['state'],
    positionMs: positionNow(
      {
        state: r.state,
        positionMs: r.position_ms,
        playbackRate: r.playback_rate,
        updatedAt: r.updated_at.getTime(),
      },
      r.duration_ms,
      now,
    ),
    playbackRate: r.playback_rate,
    updatedAt: r.updated_at.toISOString(),
  }));
}
