import { Events } from '../../common/contracts/index.js';
import { defineProjection, sourcePath } from '../../common/index.js';
import { countPlays } from './plays.js';
import { COUNTERS_TABLE, PLAY_TABLES, REPORT_TABLES, Tally, upsertTallies } from './tally.js';

export const STATS_MIGRATIONS = sourcePath(import.meta.url, 'migrations');

export const COUNTER_NAMES = {
  registeredUsers: 'registered_users',
  playlistChanges: 'playlist_changes',
} as const;

/** Play counts (top tracks, per user, per minute) and the registration and playlist-change counters. */
export const statsProjection = defineProjection({
  name: 'stats',
  events: [Events.trackPlayed, Events.userRegistered, Events.playlistChanged],
  tables: [...Object.values(PLAY_TABLES).map((t) => t.name), COUNTERS_TABLE.name],
  migrations: STATS_MIGRATIONS,
  async apply(tx, batch) {
    const counters = new Tally(COUNTERS_TABLE);
    const registered = batch.of(Events.userRegistered).length;
    const changes = batch.of(Events.playlistChanged).length;
    if (registered > 0) counters.add([COUNTER_NAMES.registeredUsers, registered]);
    if (changes > 0) counters.add([COUNTER_NAMES.playlistChanges, changes]);
    await countPlays(
      tx,
      batch.of(Events.trackPlayed).map((e) => e.data),
      [counters],
      { add: (sql) => batch.atCommit(sql), escape: (text) => tx.escapeLiteral(text) },
    );
  },
});

const DAY_MS = 86_400_000;

/**
 * The listening report: per user and UTC month, plays and time per track, per day and per
 * weekday and hour. Everything else a report says (top artists, albums, genres, streaks) is
 * derived from these when it is read.
 */
export const reportProjection = defineProjection({
  name: 'report',
  events: [Events.trackPlayed],
  tables: Object.values(REPORT_TABLES).map((t) => t.name),
  migrations: STATS_MIGRATIONS,
  async apply(tx, batch) {
    const tracks = new Tally(REPORT_TABLES.tracks);
    const days = new Tally(REPORT_TABLES.days);
    const hours = new Tally(REPORT_TABLES.hours);
    for (const { data } of batch.of(Events.trackPlayed)) {
      const at = new Date(Date.parse(data.playedAt));
      const day = new Date(Math.floor(at.getTime() / DAY_MS) * DAY_MS).toISOString().slice(0, 10);
      const month = `${day.slice(0, 7)}-01`;
      tracks.add([data.userId, month, data.trackId, 1, data.msPlayed]);
      days.add([data.userId, day, 1, data.msPlayed]);
      // ISO weekday: Monday 1 .. Sunday 7.
      hours.add([data.userId, month, ((at.getUTCDay() + 6) % 7) + 1, at.getUTCHours(), 1]);
    }
    await upsertTallies(tx, [tracks, days, hours]);
  },
});
