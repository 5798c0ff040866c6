/** Your listening report for a year or a month (UTC): the stats service's `report` projection. */
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import type { ListeningReport, ReportCount } from '../../../common/contracts/index.js';
import { path } from '../api.js';
import { plural } from '../format.js';
import { Status, Title } from '../ui/title.js';
import { useApi } from '../use-api.js';

const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];

/** Items ranked by plays, each with a bar that says its number in words too. */
function Ranked({
  title,
  items,
}: {
  title: string;
  items: Array<ReportCount & { label: string }>;
}): JSX.Element | null {
  if (items.length === 0) return null;
  const max = Math.max(...items.map((i) => i.plays));
  return (
    <section class="panel" aria-label={title}>
      <h2>{title}</h2>
      <ol class="ranked">
        {items.map((i) => (
          <li key={i.label} class="ranked-row">
            <span class="ranked-label">{i.label}</span>
            <span
              class="bar"
              aria-hidden="true"
              style={{ width: `${Math.max(2, (i.plays / max) * 100)}%` }}
            />
            <span class="ranked-count">
              {plural(i.plays, 'play')}, {i.minutes} min
            </span>
          </li>
        ))}
      </ol>
    </section>
  );
}

function Facts({ r }: { r: ListeningReport }): JSX.Element {
  const facts: Array<[string, string]> = [
    ['Listened', `${r.minutes.toLocaleString()} minutes in ${plural(r.plays, 'play')}`],
    ['Tracks', `${r.distinctTracks} different, by ${plural(r.distinctArtists, 'artist')}`],
    [
      'Busiest day',
      r.busiestWeekday ? `${r.busiestWeekday.weekday} (${plural(r.busiestWeekday.plays, 'play')})` : '–',
    ],
    ['Busiest hour', r.busiestHour ? `${String(r.busiestHour.hour).padStart(2, '0')}:00 UTC` : '–'],
    [
      'Longest streak',
      r.longestStreak
        ? `${plural(r.longestStreak.days, 'day')} (${r.longestStreak.from} to ${r.longestStreak.to})`
        : '–',
    ],
  ];
  return (
    <dl class="facts">
      {facts.map(([k, v]) => (
        <div key={k}>
          <dt>{k}</dt>
          <dd>{v}</dd>
        </div>
      ))}
    </dl>
  );
}

export function ReportPage(): JSX.Element {
  const now = new Date();
  const [year, setYear] = useState(now.getUTCFullYear());
  const [month, setMonth] = useState(0);
  const query = month === 0 ? { year } : { month: `${year}-${String(month).padStart(2, '0')}` };
  const report = useApi<ListeningReport>(path('/api/me/report', query));
  const years = Array.from({ length: 6 }, (_, i) => now.getUTCFullYear() - i);
  const r = report.data;
  return (
    <>
      <Title text="Your listening report" />
      <form class="inline-form" onSubmit={(e) => e.preventDefault()}>
        <label>
          Year{' '}
          <select value={year} onChange={(e) => setYear(Number(e.currentTarget.value))}>
            {years.map((y) => (
              <option key={y} value={y}>
                {y}
              </option>
            ))}
          </select>
        </label>
        <label>
          Month{' '}
          <select value={month} onChange={(e) => setMonth(Number(e.currentTarget.value))}>
            <option value={0}>The whole year</option>
            {MONTHS.map((m, i) => (
              <option key={m} value={i + 1}>
                {m}
              </option>
            ))}
          </select>
        </label>
      </form>
      {!r ? (
        <Status error={report.error} />
      ) : r.plays === 0 ? (
        <p class="empty">No plays in {r.period} (UTC).</p>
      ) : (
        <>
          <Facts r={r} />
          <Ranked
            title="Top tracks"
            items={r.topTracks.map((t) => ({
              ...t,
              label: `${t.title ?? t.trackId} — ${t.artistName ?? '?'}`,
            }))}
          />
          <Ranked title="Top artists" items={r.topArtists.map((a) => ({ ...a, label: a.name }))} />
          <Ranked
            title="Top albums"
            items={r.topAlbums.map((a) => ({ ...a, label: `${a.title} — ${a.artistName}` }))}
          />
          <Ranked title="Top genres" items={r.topGenres.map((g) => ({ ...g, label: g.genre }))} />
          {r.months.length > 1 ? (
            <Ranked title="Months" items={r.months.map((m) => ({ ...m, label: m.month }))} />
          ) : null}
        </>
      )}
    </>
  );
}
