/**
 * A list of tracks, the same everywhere (album, search, playlist, top tracks): play from here
 * (the list becomes what plays next), add to the queue, and more actions (play next, add to a
 * playlist) in a dialog.
 */
import type { ComponentChildren, JSX, LiHTMLAttributes } from 'preact';
import type { Track } from '../../../common/contracts/index.js';
import { clockMs } from '../format.js';
import { player } from '../player/controller.js';
import { useStore } from '../store.js';
import { announce } from './announce.js';
import { Icon } from './icons.js';
import { Link } from './link.js';
import { openTrackMenu } from './track-menu.js';

export interface TrackListProps {
  tracks: readonly Track[];
  /** What the list is, for the queue ("Next from …"). */
  label: string;
  /** Album pages show track numbers and no album name. */
  album?: boolean;
  /** Something to show per row (e.g. play counts). */
  detail?: (track: Track, index: number) => string;
  /** Controls at the start of a row (a playlist's reorder handle). */
  lead?: (track: Track, index: number) => ComponentChildren;
  /** Controls at the end of a row (a playlist's remove button). */
  extra?: (track: Track, index: number) => ComponentChildren;
  /** Attributes of a row (a playlist's drag and drop). */
  row?: (index: number) => LiHTMLAttributes;
  /** Row keys, when the same track may appear twice and rows move. */
  keys?: readonly (string | number)[];
}

export function TrackList(props: TrackListProps): JSX.Element {
  const state = useStore(player.state);
  const { tracks, label } = props;
  if (tracks.length === 0) return <p class="empty">No tracks.</p>;
  // A track whose file left the library (a playlist keeps it) is shown, but not played.
  const playable = tracks.filter((t) => !t.unavailable);
  return (
    <ol class="tracks">
      {tracks.map((t, i) => {
        const current = state.current?.track.id === t.id;
        const playing = current && state.playing;
        const onPlay = () => {
          if (current) player.toggle();
          else player.playList(label, playable, playable.indexOf(t));
        };
        const { class: rowClass, ...rowAttrs } = props.row?.(i) ?? {};
        const classes = [
          'track',
          current ? 'current' : '',
          t.unavailable ? 'unavailable' : '',
          rowClass ?? '',
        ];
        return (
          <li
            key={props.keys?.[i] ?? `${t.id}:${i}`}
            {...rowAttrs}
            class={classes.filter(Boolean).join(' ')}
            aria-current={current ? 'true' : undefined}
          >
            {props.lead?.(t, i)}
            <button
              type="button"
              class="icon-button play"
              aria-label={
                t.unavailable
                  ? `${t.hidden ? 'This track' : t.title} is unavailable`
                  : `${playing ? 'Pause' : 'Play'} ${t.title}`
              }
              disabled={t.unavailable}
              onClick={onPlay}
            >
              {props.album && !current ? <span class="number">{t.number ?? i + 1}</span> : null}
              <Icon name={playing ? 'pause' : 'play'} />
            </button>
            <div class="meta">
              <span class="title">{t.hidden ? 'Unavailable track' : t.title}</span>
              {t.hidden ? (
                <span class="sub">
                  <span class="badge">unavailable</span>
                  in a library you do not see
                </span>
              ) : t.unavailable ? (
                <span class="sub">
                  <span class="badge">unavailable</span>
                  {`${t.artistName} · ${t.albumTitle}: no longer in the library`}
                </span>
              ) : (
                <span class="sub">
                  <Link href={`/artists/${encodeURIComponent(t.artistId)}`}>{t.artistName}</Link>
                  {props.album ? null : (
                    <>
                      {' · '}
                      <Link href={`/albums/${encodeURIComponent(t.albumId)}`}>{t.albumTitle}</Link>
                    </>
                  )}
                </span>
              )}
            </div>
            {props.detail ? <span class="detail">{props.detail(t, i)}</span> : null}
            <span class="time">{clockMs(t.durationMs)}</span>
            <button
              type="button"
              class="icon-button"
              aria-label={`Add ${t.title} to queue`}
              disabled={t.unavailable}
              onClick={() => {
                player.enqueue(t);
                announce(`Added ${t.title} to the queue`);
              }}
            >
              <Icon name="queue" />
            </button>
            <button
              type="button"
              class="icon-button"
              aria-label={`More actions for ${t.title}`}
              aria-haspopup="dialog"
              disabled={t.unavailable}
              onClick={() => openTrackMenu(t)}
            >
              <Icon name="more" />
            </button>
            {props.extra?.(t, i)}
          </li>
        );
      })}
    </ol>
  );
}
