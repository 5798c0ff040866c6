/**
 * The playing track's lyrics, beside the player. Synced lyrics follow playback: the line being
 * sung is marked (`aria-current`) and kept in view, and a click on a line seeks to it. LRC's
 * offset is applied as it means: a positive offset shows each line that much sooner.
 */
import type { JSX } from 'preact';
import { useEffect, useRef } from 'preact/hooks';
import type { Lyrics } from '../../../common/contracts/index.js';
import { enc } from '../api.js';
import { clock } from '../format.js';
import { player } from '../player/controller.js';
import { useStore } from '../store.js';
import { useApi } from '../use-api.js';
import { Icon } from './icons.js';

/** The index of the line sung at `positionMs` (the last one started), or -1 before the first. */
export function currentLine(lyrics: Lyrics, positionMs: number): number {
  if (!lyrics.synced) return -1;
  const at = positionMs + lyrics.offsetMs;
  let found = -1;
  for (let i = 0; i < lyrics.lines.length; i++) {
    if ((lyrics.lines[i]!.startMs ?? 0) <= at) found = i;
    else break;
  }
  return found;
}

export function LyricsPanel({ open, onClose }: { open: boolean; onClose: () => void }): JSX.Element {
  const s = useStore(player.state);
  const position = useStore(player.position);
  const track = s.current?.track;
  const { data, error } = useApi<Lyrics>(open && track ? `/api/tracks/${enc(track.id)}/lyrics` : null);
  const lyrics = data && data.trackId === track?.id ? data : undefined;
  const current = lyrics ? currentLine(lyrics, position * 1000) : -1;
  const list = useRef<HTMLOListElement>(null);

  useEffect(() => {
    if (current < 0) return;
    list.current?.children[current]?.scrollIntoView({ block: 'nearest' });
  }, [current]);

  let body: JSX.Element | null;
  if (!open) body = null;
  else if (!track) body = <p class="empty">No track is playing.</p>;
  else if (error)
    body = <p class="empty">{error.status === 404 ? 'No lyrics for this track.' : error.message}</p>;
  else if (!lyrics) body = <p class="empty">Loading lyrics…</p>;
  else if (!lyrics.synced) {
    body = (
      <div class="lyrics-text" lang={lyrics.lang === 'und' ? undefined : lyrics.lang}>
        {lyrics.lines.map((l, i) => (
          <p key={i}>{l.text || '\u00a0'}</p>
        ))}
      </div>
    );
  } else {
    body = (
      <ol class="plain lyrics-lines" ref={list} lang={lyrics.lang === 'und' ? undefined : lyrics.lang}>
        {lyrics.lines.map((l, i) => {
          const seconds = Math.max(0, ((l.startMs ?? 0) - lyrics.offsetMs) / 1000);
          return (
            <li
              key={i}
              class={i === current ? 'current' : undefined}
              aria-current={i === current ? 'true' : undefined}
            >
              <button
                type="button"
                class="link-button"
                aria-label={`${clock(seconds)} ${l.text}`}
                onClick={() => player.seek(seconds)}
              >
                {l.text || '\u00a0'}
              </button>
            </li>
          );
        })}
      </ol>
    );
  }
  return (
    <div id="lyrics-panel" class="queue-panel lyrics-panel" hidden={!open}>
      <div class="queue-head">
        <h2>Lyrics</h2>
        <button type="button" class="icon-button" aria-label="Close the lyrics" onClick={onClose}>
          <Icon name="remove" />
        </button>
      </div>
      {body}
    </div>
  );
}
