import type { ListeningReport, ReportCount, TrackCache } from '../../common/contracts/index.js';
import { type Caller, prepared, type Queryable } from '../../common/index.js';

const WEEKDAYS = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];
const TOP = 5;

/** A year (`2026`) or a month (`2026-11`) as UTC days: the first, and the one after the last. */
function periodOf(params: { year: number } | { month: string }): {
  period: string;
  from: string;
  until: string;
} {
  if ('year' in params) {
    return { period: String(params.year), from: `${params.year}-01-01`, until: `${params.year + 1}-01-01` };
  }
  const [y, m] = params.month.split('-').map(Number) as [number, number];
  const next = m === 12 ? `${y + 1}-01-01` : `${y}-${String(m + 1).padStart(2, '0')}-01`;
  return { period: params.month, from: `${params.month}-01`, until: next };
}

const count = (plays: string | number, ms: string | number): ReportCount => ({
  plays: Number(plays),
  minutes: Math.round(Number(ms) / 60_000),
});

const byPlays = <T extends ReportCount>(a: T, b: T) => b.plays - a.plays || b.minutes - a.minutes;

/**
 * A user's listening report, read from the `report` projection's tables, with artists, albums
 * and genres of the tracks from the cache (the catalog asked, as the user, for those it
 * lacks). A track the catalog does not return to the user (of a library they no longer see,
 * or one it never had) counts in the totals, their own listening, but names nothing: it is
 * among the top tracks without names, and counts for no artist, album or genre.
 */
export async function readReport(
  db: Queryable,
  tracksCache: TrackCache,
  caller: Caller,
  params: { year: number } | { month: string },
): Promise<ListeningReport> {
  const userId = caller.userId;
  const { period, from, until } = periodOf(params);
  const range = [userId, from, until];
  // What the reader sees is looked up while their tables are read.
  const scope = tracksCache.scopeOf(caller);
  // Three statements, one pass each over the user's rows of a table: tracks and months from
  // report_tracks, weekdays and hours from report_hours (GROUPING SETS), the streak from
  // report_days. Their cost grows with the user's plays in the period, not with the tables.
  const [byTrackOrMonth, byWeekdayOrHour, streak] = await Promise.all([
    db.query<{ track_id: string | null; month: string | null; plays: string; ms: string }>(
      prepared(
        `SELECT track_id, to_char(month, 'YYYY-MM') AS month, sum(plays) AS plays, sum(ms_played) AS ms
         FROM report_tracks WHERE user_id = $1 AND month >= $2 AND month < $3
         GROUP BY GROUPING SETS ((track_id), (month))`,
        range,
      ),
    ),
    db.query<{ weekday: number | null; hour: number | null; plays: string }>(
      prepared(
        `SELECT weekday, hour, sum(plays) AS plays FROM report_hours
         WHERE user_id = $1 AND month >= $2 AND month < $3
         GROUP BY GROUPING SETS ((weekday), (hour))`,
        range,
      ),
    ),
    // Consecutive days share day - row number: each such group is a streak.
    db.query<{ days: string; first: string; last: string }>(
      prepared(
        `SELECT count(*) AS days, to_char(min(day), 'YYYY-MM-DD') AS first, to_char(max(day), 'YYYY-MM-DD') AS last
         FROM (SELECT day, day - (row_number() OVER (ORDER BY day))::int AS run FROM report_days
               WHERE user_id = $1 AND day >= $2 AND day < $3) d
         GROUP BY run ORDER BY count(*) DESC, min(day) LIMIT 1`,
        range,
      ),
    ),
  ]);
  const tracks = {
    rows: byTrackOrMonth.rows.filter((r): r is typeof r & { track_id: string } => r.track_id !== null),
  };
  const months = byTrackOrMonth.rows
    .filter((r): r is typeof r & { month: string } => r.track_id === null && r.month !== null)
    .sort((a, b) => (a.month < b.month ? -1 : 1));
  // The busiest: most plays, the earlier weekday or hour on a tie.
  const busiest = <K extends 'weekday' | 'hour'>(key: K) =>
    byWeekdayOrHour.rows
      .filter((r) => r[key] !== null)
      .sort((a, b) => Number(b.plays) - Number(a.plays) || a[key]! - b[key]!)[0] as
      | ({ [P in K]: number } & { plays: string })
      | undefined;

  // Tracks removed from the library since count as what they were.
  const known = await tracksCache.get(
    tracks.rows.map((r) => r.track_id),
    scope,
  );
  const artists = new Map<string, ReportCount & { artistId: string; name: string }>();
  const albums = new Map<string, ReportCount & { albumId: string; title: string; artistName: string }>();
  const genres = new Map<string, ReportCount & { genre: string }>();
  const add = <K, V extends ReportCount>(map: Map<K, V>, key: K, make: () => V, c: ReportCount) => {
    const entry = map.get(key) ?? map.set(key, make()).get(key)!;
    entry.plays += c.plays;
    entry.minutes += c.minutes;
  };
  let totalPlays = 0;
  const perTrack = tracks.rows.map((r) => {
    const c = count(r.plays, r.ms);
    totalPlays += c.plays;
    const t = known.get(r.track_id);
    if (t) {
      add(artists, t.artistId, () => ({ artistId: t.artistId, name: t.artistName, plays: 0, minutes: 0 }), c);
      add(
        albums,
        t.albumId,
        () => ({ albumId: t.albumId, title: t.albumTitle, artistName: t.artistName, plays: 0, minutes: 0 }),
        c,
      );
      if (t.genre) add(genres, t.genre, () => ({ genre: t.genre!, plays: 0, minutes: 0 }), c);
    }
    return {
      trackId: r.track_id,
      title: t?.title ?? null,
      artistName: t?.artistName ?? null,
      ...c,
    };
  });
  // Minutes are summed from milliseconds, not from each track's rounded minutes.
  const ms = tracks.rows.reduce((sum, r) => sum + Number(r.ms), 0);
  const top = <T extends ReportCount>(items: Iterable<T>) => [...items].sort(byPlays).slice(0, TOP);
  const lastDay = new Date(Date.parse(`${until}T00:00:00Z`) - 86_400_000).toISOString().slice(0, 10);
  const w = busiest('weekday');
  const h = busiest('hour');
  const s = streak.rows[0];
  return {
    userId,
    period,
    from,
    to: lastDay,
    timeZone: 'UTC',
    plays: totalPlays,
    minutes: Math.round(ms / 60_000),
    distinctTracks: perTrack.length,
    distinctArtists: artists.size,
    topTracks: top(perTrack),
    topArtists: top(artists.values()),
    topAlbums: top(albums.values()),
    topGenres: top(genres.values()),
    busiestWeekday: w ? { weekday: WEEKDAYS[w.weekday - 1]!, plays: Number(w.plays) } : null,
    busiestHour: h ? { hour: h.hour, plays: Number(h.plays) } : null,
    longestStreak: s ? { days: Number(s.days), from: s.first, to: s.last } : null,
    months: months.map((m) => ({ month: m.month, ...count(m.plays, m.ms) })),
  };
}
