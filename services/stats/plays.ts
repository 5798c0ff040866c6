import type { Queryable } from '../../common/index.js';
import { PLAY_TABLES, Tally, upsertTallies } from './tally.js';

/** What the statistics need of a play, from a live event or from the history log. */
export interface PlayFact {
  userId: string;
  trackId: string;
  playedAt: string;
  msPlayed: number;
}

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;

const bucket = (ms: number, size: number) => new Date(Math.floor(ms / size) * size).toISOString();

/**
 * Adds a batch of plays to the play statistics: aggregated in memory first, then one upsert
 * per table, all in one statement. `suffix` selects a rebuild's fresh tables; live and
 * rebuilt statistics are made by this one function, which is what makes them equal.
 */
export async function applyPlays(db: Queryable, plays: readonly PlayFact[], suffix = ''): Promise<void> {
  const tallies = {
    trackPlays: new Tally(PLAY_TABLES.trackPlays),
    trackHourly: new Tally(PLAY_TABLES.trackHourly),
    userTotals: new Tally(PLAY_TABLES.userTotals),
    userTracks: new Tally(PLAY_TABLES.userTracks),
    minutePlays: new Tally(PLAY_TABLES.minutePlays),
  } satisfies Record<keyof typeof PLAY_TABLES, Tally>;
  for (const play of plays) {
    // Millisecond precision, whatever the event carried: the history log keeps no more.
    const at = Date.parse(play.playedAt);
    tallies.trackPlays.add([play.trackId, 1]);
    tallies.trackHourly.add([bucket(at, HOUR_MS), play.trackId, 1]);
    tallies.userTotals.add([play.userId, 1, play.msPlayed, new Date(at).toISOString()]);
    tallies.userTracks.add([play.userId, play.trackId, 1]);
    tallies.minutePlays.add([bucket(at, MINUTE_MS), 1]);
  }
  await upsertTallies(db, Object.values(tallies), suffix);
}
