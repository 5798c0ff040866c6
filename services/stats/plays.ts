import { PLAY_TABLES, Tally } from './tally.js';

/** What the statistics need of a play. */
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
 * A batch of plays aggregated for the play statistics, one tally per table, for the caller to
 * upsert (upsertTallies: all in one statement). Live and rebuilt statistics are made by this
 * one function, which is what makes them equal.
 */
export function playTallies(plays: readonly PlayFact[]): Tally[] {
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
  return Object.values(tallies);
}
