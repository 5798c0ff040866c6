/**
 * The player region: what plays, the transport buttons, the seek bar with times, the volume,
 * and the queue. Outside the routed part of the page, so it stays while the listener browses.
 */
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import type { GainMode } from '../../../common/contracts/browser.js';
import { clock } from '../format.js';
import { player } from '../player/controller.js';
import type { Entry } from '../player/queue.js';
import { useStore } from '../store.js';
import { announce } from './announce.js';
import { Cover } from './cover.js';
import { Icon } from './icons.js';
import { Link } from './link.js';
import { LyricsPanel } from './lyrics-panel.js';

export function PlayerBar(): JSX.Element {
  const s = useStore(player.state);
  const position = useStore(player.position);
  const [queueOpen, setQueueOpen] = useState(false);
  const [lyricsOpen, setLyricsOpen] = useState(false);
  const track = s.current?.track;
  const duration = Math.max(s.duration, 0);
  const volumePercent = Math.round((s.muted ? 0 : s.volume) * 100);
  return (
    <section class="player" aria-label="Player">
      <div class="now">
        {track ? (
          <>
            <Cover title={track.albumTitle} albumId={track.albumId} size={48} decorative />
            <div class="meta">
              <Link class="title" href={`/albums/${encodeURIComponent(track.albumId)}`}>
                {track.title}
              </Link>
              <Link class="sub" href={`/artists/${encodeURIComponent(track.artistId)}`}>
                {track.artistName}
              </Link>
            </div>
          </>
        ) : (
          <p class="meta idle">Nothing playing</p>
        )}
      </div>

      <div class="transport">
        <button
          type="button"
          class="icon-button"
          aria-label="Previous track"
          aria-keyshortcuts="Shift+ArrowLeft"
          disabled={!track}
          onClick={() => player.previous()}
        >
          <Icon name="previous" />
        </button>
        <button
          type="button"
          class="icon-button primary"
          aria-label={s.playing ? 'Pause' : 'Play'}
          aria-keyshortcuts="Space"
          disabled={!track}
          onClick={() => player.toggle()}
        >
          <Icon name={s.playing ? 'pause' : 'play'} size={28} />
        </button>
        <button
          type="button"
          class="icon-button"
          aria-label="Next track"
          aria-keyshortcuts="Shift+ArrowRight"
          disabled={!s.hasNext}
          onClick={() => player.next()}
        >
          <Icon name="next" />
        </button>
      </div>

      <div class="seek">
        <span class="time" aria-hidden="true">
          {clock(position)}
        </span>
        <input
          type="range"
          aria-label="Seek"
          aria-keyshortcuts="ArrowLeft ArrowRight"
          aria-valuetext={`${clock(position)} of ${clock(duration)}`}
          min={0}
          max={Math.max(1, Math.floor(duration))}
          step={1}
          value={Math.floor(position)}
          disabled={!track}
          onInput={(e) => player.seek(Number(e.currentTarget.value))}
        />
        <span class="time" aria-hidden="true">
          {clock(duration)}
        </span>
      </div>

      <div class="volume">
        <button
          type="button"
          class="icon-button"
          aria-label={s.muted ? 'Unmute' : 'Mute'}
          aria-pressed={s.muted}
          onClick={() => player.toggleMute()}
        >
          <Icon name={s.muted || s.volume === 0 ? 'muted' : 'volume'} />
        </button>
        <input
          type="range"
          aria-label="Volume"
          aria-keyshortcuts="Shift+ArrowUp Shift+ArrowDown"
          aria-valuetext={`${volumePercent} %`}
          min={0}
          max={100}
          step={5}
          value={volumePercent}
          onInput={(e) => player.setVolume(Number(e.currentTarget.value) / 100)}
        />
        <select
          class="gain-mode"
          aria-label="Volume levelling (ReplayGain)"
          value={s.gainMode}
          onChange={(e) => player.setGainMode(e.currentTarget.value as GainMode)}
        >
          <option value="track">Level tracks</option>
          <option value="album">Level albums</option>
          <option value="off">No levelling</option>
        </select>
        <button
          type="button"
          class="icon-button"
          aria-label="Lyrics"
          aria-expanded={lyricsOpen}
          aria-controls="lyrics-panel"
          onClick={() => setLyricsOpen(!lyricsOpen)}
        >
          <Icon name="lyrics" />
        </button>
        <button
          type="button"
          class="icon-button"
          aria-label="Queue"
          aria-expanded={queueOpen}
          aria-controls="queue-panel"
          onClick={() => setQueueOpen(!queueOpen)}
        >
          <Icon name="queue" />
        </button>
      </div>

      {s.error ? (
        <p class="error player-error" role="alert">
          {s.error}
        </p>
      ) : null}
      <LyricsPanel open={lyricsOpen} onClose={() => setLyricsOpen(false)} />
      <QueuePanel open={queueOpen} onClose={() => setQueueOpen(false)} />
    </section>
  );
}

function QueuePanel({ open, onClose }: { open: boolean; onClose: () => void }): JSX.Element {
  const s = useStore(player.state);
  const row = (e: Entry) => (
    <li key={e.key} class="queue-row">
      <button
        type="button"
        class="link-button meta"
        aria-label={`Play ${e.track.title} now`}
        onClick={() => player.jumpTo(e.key)}
      >
        <span class="title">{e.track.title}</span>
        <span class="sub">{e.track.artistName}</span>
      </button>
      <button
        type="button"
        class="icon-button"
        aria-label={`Remove ${e.track.title} from the queue`}
        onClick={() => {
          player.remove(e.key);
          announce(`Removed ${e.track.title} from the queue`);
        }}
      >
        <Icon name="remove" />
      </button>
    </li>
  );
  return (
    <div id="queue-panel" class="queue-panel" hidden={!open}>
      <div class="queue-head">
        <h2 id="queue-title">Queue</h2>
        <button
          type="button"
          disabled={s.upNext.length === 0 && s.contextRest.length === 0}
          onClick={() => {
            player.clear();
            announce('Queue cleared');
          }}
        >
          Clear queue
        </button>
        <button type="button" class="icon-button" aria-label="Close the queue" onClick={onClose}>
          <Icon name="remove" />
        </button>
      </div>
      <h3>Now playing</h3>
      <p>{s.current ? `${s.current.track.title} · ${s.current.track.artistName}` : 'Nothing'}</p>
      <h3 id="queue-up-next">Next in queue</h3>
      {s.upNext.length > 0 ? (
        <ol class="plain" aria-labelledby="queue-up-next">
          {s.upNext.map(row)}
        </ol>
      ) : (
        <p class="empty">Add tracks with “Add to queue”.</p>
      )}
      {s.contextRest.length > 0 ? (
        <>
          <h3 id="queue-context">Next from {s.contextLabel}</h3>
          <ol class="plain" aria-labelledby="queue-context">
            {s.contextRest.map(row)}
          </ol>
        </>
      ) : null}
    </div>
  );
}
