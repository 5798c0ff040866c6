import { prepared, type Queryable } from '../../common/index.js';
import { inlineTallies, PLAY_TABLES, Tally, upsertTallies } from './tally.js';

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
 * Counts a batch of plays into the play statistics (with `extra` tallies of other events in
 * the same statement). Live and rebuilt statistics are made by this one function, which is
 * what makes them equal.
 *
 * The public top tracks rank by **listeners**: an account adds one to a track, however often
 * it plays it (then plays order tracks with as many listeners). So one account's plays, a
 * thousand scrobbles or a bot's, cannot buy a place there, and a small install with one
 * listener still sees its most played first. Counting listeners rather than capping each
 * one's plays needs no state beyond the rows already kept per user and track: the user_tracks
 * upsert says which (user, track) rows are new (a first play: one more listener of all time),
 * and their `last_played_at` which listeners played a track within a window. A user's plays
 * stay in one partition of the event log, so one writer owns each of those rows.
 */
export async function countPlays(
  db: Queryable,
  plays: readonly PlayFact[],
  extra: Tally[] = [],
  atCommit?: CommitStatements,
): Promise<void> {
  const t = playTallies(plays);
  if (t.userTracks.size > 0) {
    const { text, values } = t.userTracks.statement(0, 'track_id, (xmax = 0) AS first');
    const { rows } = await db.query<{ track_id: string; first: boolean }>(prepared(text, values));
    for (const row of rows) if (row.first) t.trackPlays.add([row.track_id, 0, 1]);
  }
  const rest = [t.trackPlays, t.trackHourly, t.userTotals, t.minutePlays, ...extra];
  const inline = atCommit ? inlineTallies(rest, atCommit.escape) : null;
  if (atCommit && inline) atCommit.add(inline);
  else if (!atCommit) await upsertTallies(db, rest);
}

/**
 * Where a projection batch takes statements for its COMMIT (ProjectionBatch.atCommit), and how
 * its connection escapes a literal. The rows every partition's leader writes (a track's plays
 * and hours, a minute's plays) are written there: locked only while the commit runs, not
 * across a round trip, so the leaders of several partitions do not queue behind each other.
 */
export interface CommitStatements {
  add(sql: string): void;
  escape(text: string): string;
}

/** A batch of plays aggregated for the play statistics, one tally per table. */
function playTallies(plays: readonly PlayFact[]): Record<keyof typeof PLAY_TABLES, Tally> {
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
    tallies.trackPlays.add([play.trackId, 1, 0]);
    tallies.trackHourly.add([bucket(at, HOUR_MS), play.trackId, 1]);
    tallies.userTotals.add([play.userId, 1, play.msPlayed, new Date(at).toISOString()]);
    tallies.userTracks.add([play.userId, play.trackId, 1, new Date(at).toISOString()]);
    tallies.minutePlays.add([bucket(at, MINUTE_MS), 1]);
  }
  return tallies;
}
