import { Events } from '../../common/contracts/index.js';
import { defineProjection, sourcePath } from '../../common/index.js';

export const SCROBBLER_MIGRATIONS = sourcePath(import.meta.url, 'migrations');

/**
 * The scrobbler's consumer group on the event log: each play of a user with a link, dated
 * from the link on, is queued for that service, in the transaction that moves the group's
 * offset, so each play is queued once however often the log is read. Whether it counts (half
 * the track or 4 minutes) is decided when it is sent, with the track's length in hand.
 * Not a view to rebuild: it has no tables a replay could build afresh (a replay would only
 * skip what is sent; `listens` keeps what went).
 */
export const scrobbleProjection = defineProjection({
  name: 'scrobble',
  events: [Events.trackPlayed],
  tables: [],
  migrations: SCROBBLER_MIGRATIONS,
  async apply(tx, batch) {
    const plays = batch.of(Events.trackPlayed);
    if (plays.length === 0) return;
    await tx.query(
      `INSERT INTO listens (user_id, service, event_id, track_id, played_at, ms_played, kind)
       SELECT p.user_id, l.service, p.event_id, p.track_id, p.played_at, p.ms_played, 'live'
       FROM unnest($1::text[], $2::uuid[], $3::text[], $4::timestamptz[], $5::int[])
              AS p(user_id, event_id, track_id, played_at, ms_played)
       JOIN links l ON l.user_id = p.user_id AND p.played_at >= l.linked_at
       ORDER BY p.played_at
       ON CONFLICT (user_id, service, event_id) DO NOTHING`,
      [
        plays.map((e) => e.data.userId),
        plays.map((e) => e.id),
        plays.map((e) => e.data.trackId),
        plays.map((e) => e.data.playedAt),
        plays.map((e) => e.data.msPlayed),
      ],
    );
  },
});
