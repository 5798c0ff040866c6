/** The listener's own plays, newest first (home page and history page). */
import type { JSX } from 'preact';
import type { Play } from '../../../common/contracts/index.js';
import { ago, clockMs } from '../format.js';
import { Icon } from '../ui/icons.js';
import { playById } from './tracks.js';

export function PlaysList({ plays }: { plays: readonly Play[] }): JSX.Element {
  if (plays.length === 0) return <p class="empty">Nothing played yet. Pick something and press play.</p>;
  return (
    <ol class="tracks plays">
      {plays.map((p) => {
        const title = p.title ?? p.trackId;
        return (
          <li key={p.eventId} class={p.unavailable ? 'track unavailable' : 'track'}>
            <button
              type="button"
              class="icon-button play"
              aria-label={p.unavailable ? `${title} is unavailable` : `Play ${title}`}
              disabled={p.unavailable}
              onClick={() => void playById(p.trackId)}
            >
              <Icon name="play" />
            </button>
            <div class="meta">
              <span class="title">{title}</span>
              <span class="sub">
                {p.unavailable ? <span class="badge">unavailable</span> : null}
                {[p.artistName, p.albumTitle].filter(Boolean).join(' · ')}
              </span>
            </div>
            <span class="detail">
              <time dateTime={p.playedAt} title={new Date(p.playedAt).toLocaleString()}>
                {ago(p.playedAt)}
              </time>
            </span>
            <span class="time">
              <span class="sr-only">listened </span>
              {clockMs(p.msPlayed)}
            </span>
          </li>
        );
      })}
    </ol>
  );
}
