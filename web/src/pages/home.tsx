/** Most played (last hour, day, all time) and what you played last, both live. */
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import type { Play, Track } from '../../../common/contracts/index.js';
import { path } from '../api.js';
import { plural } from '../format.js';
import { Link } from '../ui/link.js';
import { Status, Title } from '../ui/title.js';
import { TrackList } from '../ui/track-list.js';
import { useApi } from '../use-api.js';
import { PlaysList } from './plays-list.js';

type TopTrack = Track & { plays: number };
const WINDOWS = [
  ['hour', 'Last hour'],
  ['day', 'Today'],
  ['all', 'All time'],
] as const;
type Period = (typeof WINDOWS)[number][0];

export function HomePage(): JSX.Element {
  const [period, setPeriod] = useState<Period>('day');
  const top = useApi<TopTrack[]>(path('/api/stats/top-tracks', { window: period, limit: 10 }), {
    live: true,
  });
  const recent = useApi<Play[]>(path('/api/me/history', { limit: 10 }), { live: true });
  const label = WINDOWS.find(([w]) => w === period)![1];
  return (
    <>
      <Title text="Home" />
      <section aria-labelledby="top-title" class="panel">
        <div class="panel-head">
          <h2 id="top-title">Most played</h2>
          <fieldset class="segmented">
            <legend class="sr-only">Period</legend>
            {WINDOWS.map(([w, text]) => (
              <button key={w} type="button" aria-pressed={w === period} onClick={() => setPeriod(w)}>
                {text}
              </button>
            ))}
          </fieldset>
        </div>
        {top.data ? (
          top.data.length > 0 ? (
            <TrackList
              tracks={top.data}
              label={`Most played: ${label}`}
              detail={(t) => plural((t as TopTrack).plays, 'play')}
            />
          ) : (
            <p class="empty">No plays in this period yet.</p>
          )
        ) : (
          <Status error={top.error} />
        )}
      </section>
      <section aria-labelledby="recent-title" class="panel">
        <div class="panel-head">
          <h2 id="recent-title">Recently played</h2>
          <Link href="/history">All your plays</Link>
        </div>
        {recent.data ? <PlaysList plays={recent.data} /> : <Status error={recent.error} />}
      </section>
    </>
  );
}
