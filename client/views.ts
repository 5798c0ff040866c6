/** How each kind of result looks as text. */
import type {
  Account,
  Album,
  Artist,
  ListeningReport,
  Lyrics,
  Play,
  Playlist,
  PlaylistDetail,
  ScrobbleStatus,
  SearchResult,
  Share,
  Track,
  User,
  UserStats,
} from '../common/contracts/index.js';
import type { TopTrack } from './api.js';
import { duration, type Style, table, when } from './render.js';

const n = (i: number) => String(i + 1);

export function trackTable(tracks: Track[], s: Style): string {
  return table(
    [
      { header: '#', align: 'right' },
      { header: 'id' },
      { header: 'title', max: 40 },
      { header: 'artist', max: 28 },
      { header: 'album', max: 28 },
      { header: 'time', align: 'right' },
      { header: 'genre', max: 16 },
    ],
    tracks.map((t, i) => [
      n(i),
      t.id,
      t.hidden
        ? '(unavailable: a library you do not see)'
        : t.unavailable
          ? `${t.title} (unavailable)`
          : t.title,
      t.artistName,
      t.albumTitle,
      duration(t.durationMs),
      t.genre,
    ]),
    s,
  );
}

export function albumTable(albums: Album[], s: Style): string {
  return table(
    [
      { header: 'id' },
      { header: 'title', max: 40 },
      { header: 'artist', max: 28 },
      { header: 'year', align: 'right' },
      { header: 'genre', max: 16 },
      { header: 'tracks', align: 'right' },
      { header: 'time', align: 'right' },
    ],
    albums.map((a) => [a.id, a.title, a.artistName, a.year, a.genre, a.trackCount, duration(a.durationMs)]),
    s,
  );
}

export function artistTable(artists: Artist[], s: Style): string {
  return table(
    [{ header: 'id' }, { header: 'name', max: 40 }, { header: 'albums', align: 'right' }],
    artists.map((a) => [a.id, a.name, a.albumCount]),
    s,
  );
}

export function artistView(artist: Artist & { albums: Album[] }, s: Style): string {
  return [s.bold(s.accent(artist.name)), '', albumTable(artist.albums, s)].join('\n');
}

export function albumView(album: Album & { tracks: Track[] }, s: Style): string {
  const facts = [
    album.artistName,
    album.year,
    album.genre,
    `${album.trackCount} tracks`,
    duration(album.durationMs),
  ];
  return [
    `${s.bold(s.accent(album.title))}  ${s.dim(facts.filter((f) => f !== null && f !== '').join(' · '))}`,
    '',
    trackTable(album.tracks, s),
  ].join('\n');
}

export function searchView(result: SearchResult, s: Style): string {
  return [
    s.bold('Artists'),
    artistTable(result.artists, s),
    '',
    s.bold('Albums'),
    albumTable(result.albums, s),
    '',
    s.bold('Tracks'),
    trackTable(result.tracks, s),
  ].join('\n');
}

/** Lyrics a line per line; synced ones with the time each line starts, as `[1:02]`. */
export function lyricsView(lyrics: Lyrics, s: Style): string {
  const lines = lyrics.lines.map((l) =>
    l.startMs === undefined ? l.text : `${s.dim(`[${duration(l.startMs)}]`)} ${l.text}`,
  );
  const about = lyrics.synced ? 'synced lyrics' : 'lyrics';
  const offset = lyrics.offsetMs ? `, offset ${lyrics.offsetMs} ms` : '';
  return [...lines, s.dim(`(${about}${offset}, ${lyrics.lines.length} lines)`)].join('\n');
}

export function userTable(users: Account[], s: Style): string {
  return table(
    [
      { header: 'username', max: 32 },
      { header: 'name', max: 40 },
      { header: 'role' },
      { header: 'state' },
      { header: 'since' },
    ],
    users.map((u) => [
      u.username,
      u.displayName,
      u.admin ? 'admin' : 'user',
      u.disabled ? 'disabled' : 'enabled',
      u.createdAt.slice(0, 10),
    ]),
    s,
  );
}

export function playlistTable(playlists: Playlist[], s: Style): string {
  return table(
    [
      { header: 'id' },
      { header: 'name', max: 40 },
      { header: 'owner', max: 20 },
      { header: 'visibility' },
      { header: 'tracks', align: 'right' },
      { header: 'time', align: 'right' },
    ],
    playlists.map((p) => [
      p.id,
      p.name,
      p.ownerName,
      `${p.public ? 'public' : 'private'}${p.rules ? ', smart' : ''}`,
      p.trackCount,
      duration(p.durationMs),
    ]),
    s,
  );
}

export function playlistView(p: PlaylistDetail, s: Style): string {
  const last = p.tracks.at(-1)?.position;
  const partial = p.offset > 0 || (last !== undefined && last + 1 < p.trackCount);
  const facts = [
    `by ${p.ownerName}`,
    p.public ? 'public' : 'private',
    ...(p.rules ? ['smart: follows its rules'] : []),
    ...(p.file ? [`from the file ${p.file.path}`] : []),
    partial && last !== undefined
      ? `tracks ${p.offset + 1}-${last + 1} of ${p.trackCount}`
      : `${p.trackCount} tracks`,
    duration(p.durationMs),
  ];
  const file = p.file;
  const notes = file
    ? [
        ...(file.error ? [s.dim(`the file's last version was refused: ${file.error}`)] : []),
        ...(file.missingCount > 0 ? [s.dim(`${file.missingCount} entries of the file not found:`)] : []),
        ...file.missing.map((m) => s.dim(`  line ${m.line}: ${m.entry} (${m.reason})`)),
      ]
    : [];
  return [
    `${s.bold(s.accent(p.name))}  ${s.dim(`${facts.join(' · ')} · id ${p.id}`)}`,
    ...notes,
    '',
    trackTable(
      p.tracks.map((e) => e.track),
      s,
    ),
  ].join('\n');
}

export function historyTable(plays: Play[], s: Style): string {
  return table(
    [
      { header: '#', align: 'right' },
      { header: 'played' },
      { header: 'title', max: 40 },
      { header: 'artist', max: 28 },
      { header: 'listened', align: 'right' },
      { header: 'track' },
    ],
    plays.map((p, i) => [
      n(i),
      when(p.playedAt),
      p.unavailable ? `${p.title ?? '?'} (unavailable)` : (p.title ?? '?'),
      p.artistName ?? '?',
      duration(p.msPlayed),
      p.trackId,
    ]),
    s,
  );
}

export function topTable(tracks: TopTrack[], s: Style): string {
  return table(
    [
      { header: '#', align: 'right' },
      { header: 'plays', align: 'right' },
      { header: 'title', max: 40 },
      { header: 'artist', max: 28 },
      { header: 'id' },
    ],
    tracks.map((t, i) => [n(i), t.plays, t.title, t.artistName, t.id]),
    s,
  );
}

export function meView(user: User, stats: UserStats, s: Style): string {
  const rows: Array<[string, string]> = [
    ['user', `${user.username} (${user.displayName})`],
    ['id', user.id],
    ['member since', when(user.createdAt)],
    ['plays', String(stats.totalPlays)],
    ['listened', duration(stats.totalMs)],
    ['distinct tracks', String(stats.distinctTracks)],
    ['last played', stats.lastPlayedAt ? when(stats.lastPlayedAt) : '-'],
  ];
  if (user.bio) rows.push(['bio', user.bio]);
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${s.dim(k.padEnd(width))}  ${v}`).join('\n');
}

/** A bar of `width` cells for `value` out of `max`, in eighths of a cell. */
function bar(value: number, max: number, width = 24): string {
  if (max <= 0 || value <= 0) return '';
  const eighths = Math.max(1, Math.round((value / max) * width * 8));
  const partial = ['', '▏', '▎', '▍', '▌', '▋', '▊', '▉'][eighths % 8];
  return '█'.repeat(Math.floor(eighths / 8)) + partial;
}

/** Ranked items with their plays as bars. */
function ranked(title: string, items: Array<{ label: string; plays: number }>, s: Style): string[] {
  if (items.length === 0) return [];
  const max = Math.max(...items.map((i) => i.plays));
  const width = Math.min(32, Math.max(...items.map((i) => i.label.length)));
  return [
    '',
    s.bold(title),
    ...items.map(
      (i, k) =>
        `${String(k + 1).padStart(2)}. ${i.label.slice(0, width).padEnd(width)}  ${bar(i.plays, max)} ${i.plays}`,
    ),
  ];
}

export function reportView(r: ListeningReport, s: Style): string {
  if (r.plays === 0)
    return `${s.bold(`Your ${r.period}`)}
${s.dim('no plays in this period (UTC)')}`;
  const facts: Array<[string, string]> = [
    ['listened', `${r.minutes.toLocaleString('en-US')} minutes in ${r.plays} plays`],
    ['tracks', `${r.distinctTracks} different, by ${r.distinctArtists} artists`],
    ['busiest day', r.busiestWeekday ? `${r.busiestWeekday.weekday} (${r.busiestWeekday.plays} plays)` : '-'],
    [
      'busiest hour',
      r.busiestHour
        ? `${String(r.busiestHour.hour).padStart(2, '0')}:00 UTC (${r.busiestHour.plays} plays)`
        : '-',
    ],
    [
      'longest streak',
      r.longestStreak
        ? `${r.longestStreak.days} day${r.longestStreak.days === 1 ? '' : 's'} (${r.longestStreak.from} to ${r.longestStreak.to})`
        : '-',
    ],
  ];
  const width = Math.max(...facts.map(([k]) => k.length));
  const lines = [
    s.bold(`Your ${r.period}`) + s.dim(`  ${r.from} to ${r.to}, UTC`),
    ...facts.map(([k, v]) => `${s.dim(k.padEnd(width))}  ${v}`),
    ...ranked(
      'Top tracks',
      r.topTracks.map((t) => ({ label: `${t.title ?? t.trackId} — ${t.artistName ?? '?'}`, plays: t.plays })),
      s,
    ),
    ...ranked(
      'Top artists',
      r.topArtists.map((a) => ({ label: a.name, plays: a.plays })),
      s,
    ),
    ...ranked(
      'Top albums',
      r.topAlbums.map((a) => ({ label: `${a.title} — ${a.artistName}`, plays: a.plays })),
      s,
    ),
    ...ranked(
      'Top genres',
      r.topGenres.map((g) => ({ label: g.genre, plays: g.plays })),
      s,
    ),
  ];
  if (r.months.length > 1)
    lines.push(
      ...ranked(
        'Months',
        r.months.map((m) => ({ label: m.month, plays: m.plays })),
        s,
      ),
    );
  return lines.join('\n');
}

/** Where a share link opens, on the gateway the client talks to. */
export const shareLink = (gateway: string, s: Share) => `${gateway.replace(/\/+$/, '')}${s.path}`;

function shareExpiry(s: Share): string {
  if (s.expired) return 'expired';
  return s.expiresAt ? s.expiresAt.slice(0, 16).replace('T', ' ') : 'never';
}

export function shareTable(shares: Share[], gateway: string, s: Style): string {
  return table(
    [
      { header: 'id' },
      { header: 'kind' },
      { header: 'name', max: 30 },
      { header: 'visits', align: 'right' },
      { header: 'expires' },
      { header: 'link' },
    ],
    shares.map((x) => [x.id, x.kind, x.name, x.visitCount, shareExpiry(x), shareLink(gateway, x)]),
    s,
  );
}

export function shareView(x: Share, gateway: string, s: Style): string {
  const about = [
    `${x.kind} ${x.name}`,
    `${x.trackCount} track${x.trackCount === 1 ? '' : 's'}`,
    `expires ${shareExpiry(x)}`,
    ...(x.downloadable ? ['downloads allowed'] : []),
  ].join(' · ');
  return `${shareLink(gateway, x)}\n${s.dim(about)}${x.description ? `\n${x.description}` : ''}`;
}

const SERVICE_NAMES = { listenbrainz: 'ListenBrainz', lastfm: 'Last.fm' } as const;

/** The caller's scrobbling links: whether each works (and why not), what went, what waits. */
export function scrobblingView(status: ScrobbleStatus, s: Style): string {
  if (status.links.length === 0) {
    const lastfm = status.lastfmAvailable ? ' or `scrobble link lastfm`' : '';
    return s.dim(`no scrobbling link; \`scrobble link listenbrainz\`${lastfm} makes one`);
  }
  return status.links
    .map((l) => {
      const name = SERVICE_NAMES[l.service];
      const head =
        l.state === 'ok'
          ? `${s.bold(name)} ${s.good('linked')}${l.account ? ` as ${l.account}` : ''}`
          : `${s.bold(name)} ${s.bad(l.problem ?? 'broken')}: link again to resume`;
      const c = l.counts;
      const lines = [
        head,
        `  sent ${c.sent}, waiting ${c.queued}, not sent by the rules ${c.skipped}, refused ${c.refused}`,
      ];
      if (l.retryAt) lines.push(`  ${s.dim(`trying again at ${when(l.retryAt)}`)}`);
      if (l.earlier) {
        const e = l.earlier;
        const part = e.total > 0 ? `${Math.floor((100 * e.read) / e.total)}%` : '';
        lines.push(`  earlier plays: ${e.state === 'done' ? 'read' : `reading ${part}`}, ${e.queued} found`);
      }
      return lines.join('\n');
    })
    .join('\n');
}
