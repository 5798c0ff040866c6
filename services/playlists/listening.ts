import {
  Events,
  type ListeningFacts,
  listeningNeeds,
  SMART_MAX_FACTS,
  type SmartRules,
  type SongMarks,
} from '../../common/contracts/index.js';
import { defineProjection, type Queryable, sourcePath } from '../../common/index.js';

export const PLAYLISTS_MIGRATIONS = sourcePath(import.meta.url, 'migrations');

/**
 * Each user's plays and last play per track, from the event log: what smart playlists' rules
 * over play count and last played read. The runner applies each play exactly once (its offset
 * and the event id commit with the counts) and `npm run replay -- listening` rebuilds it.
 */
export const listeningProjection = defineProjection({
  name: 'listening',
  events: [Events.trackPlayed],
  tables: ['listening'],
  migrations: PLAYLISTS_MIGRATIONS,
  async apply(tx, batch) {
    const rows = new Map<string, { userId: string; trackId: string; plays: number; last: number }>();
    for (const { data } of batch.of(Events.trackPlayed)) {
      const key = `${data.userId}\u0000${data.trackId}`;
      const at = Date.parse(data.playedAt);
      const row = rows.get(key);
      if (row) {
        row.plays += 1;
        row.last = Math.max(row.last, at);
      } else rows.set(key, { userId: data.userId, trackId: data.trackId, plays: 1, last: at });
    }
    if (rows.size === 0) return;
    // In key order, so batches of several partitions' leaders wait for each other, never deadlock.
    const sorted = [...rows.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, r]) => r);
    await tx.query(
      `INSERT INTO listening (user_id, track_id, plays, last_played_at)
       SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::timestamptz[])
       ON CONFLICT (user_id, track_id) DO UPDATE
       SET plays = listening.plays + excluded.plays,
           last_played_at = greatest(listening.last_played_at, excluded.last_played_at)`,
      [
        sorted.map((r) => r.userId),
        sorted.map((r) => r.trackId),
        sorted.map((r) => r.plays),
        sorted.map((r) => new Date(r.last).toISOString()),
      ],
    );
  },
});

/** A user's plays per track, the most recently played SMART_MAX_FACTS of them. */
async function playsOf(db: Queryable, userId: string) {
  const { rows } = await db.query<{ track_id: string; plays: number; last_played_at: Date }>(
    `SELECT track_id, plays, last_played_at FROM listening WHERE user_id = $1
     ORDER BY last_played_at DESC LIMIT $2`,
    [userId, SMART_MAX_FACTS],
  );
  return rows;
}

/**
 * What the catalog needs of a user's listening to run `rules`: plays from this service's own
 * projection, ratings and stars from the users service (`marks`, asked only when the rules
 * read them). Undefined when the rules read none of it.
 */
export async function listeningFacts(
  db: Queryable,
  userId: string,
  rules: SmartRules,
  marks: () => Promise<SongMarks>,
): Promise<ListeningFacts | undefined> {
  const needs = listeningNeeds(rules);
  if (!needs.plays && !needs.marks) return undefined;
  const [plays, songs] = await Promise.all([
    needs.plays ? playsOf(db, userId) : [],
    needs.marks ? marks() : { ratings: [], starred: [] },
  ]);
  const byTrack = new Map<
    string,
    { plays: number; lastPlayed: string | null; rating: number; starred: boolean }
  >();
  const entry = (trackId: string) => {
    let e = byTrack.get(trackId);
    if (!e) {
      e = { plays: 0, lastPlayed: null, rating: 0, starred: false };
      byTrack.set(trackId, e);
    }
    return e;
  };
  for (const p of plays)
    Object.assign(entry(p.track_id), { plays: p.plays, lastPlayed: p.last_played_at.toISOString() });
  for (const r of songs.ratings) entry(r.trackId).rating = r.rating;
  for (const id of songs.starred) entry(id).starred = true;
  const ids = [...byTrack.keys()].sort();
  const facts = ids.map((id) => byTrack.get(id)!);
  return {
    trackIds: ids,
    plays: facts.map((f) => f.plays),
    lastPlayed: facts.map((f) => f.lastPlayed),
    rating: facts.map((f) => f.rating),
    starred: facts.map((f) => f.starred),
  };
}
