/** The actions of one track in a modal dialog: play next, queue, add to a playlist (or a new one). */
import type { JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { Playlist, PlaylistDetail, Track } from '../../../common/contracts/index.js';
import { ApiError, change, enc } from '../api.js';
import { player } from '../player/controller.js';
import { navigate } from '../router.js';
import { createStore, useStore } from '../store.js';
import { useApi } from '../use-api.js';
import { announce } from './announce.js';
import { NameField } from './name-field.js';
import { ShareForm } from './share-form.js';
import { FormError } from './title.js';

const menuTrack = createStore<Track | null>(null);

export function openTrackMenu(track: Track): void {
  menuTrack.set(track);
}

export function TrackMenu(): JSX.Element {
  const track = useStore(menuTrack);
  const dialog = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = dialog.current;
    if (!d) return;
    if (track && !d.open) d.showModal();
    if (!track && d.open) d.close();
  }, [track]);
  return (
    <dialog
      ref={dialog}
      class="dialog"
      aria-labelledby="track-menu-title"
      onClose={() => menuTrack.set(null)}
    >
      {track ? <TrackActions track={track} /> : null}
    </dialog>
  );
}

function TrackActions({ track }: { track: Track }): JSX.Element {
  const playlists = useApi<Playlist[]>('/api/playlists');
  const [name, setName] = useState('');
  const [error, setError] = useState('');
  const close = () => menuTrack.set(null);
  const done = (text: string) => {
    announce(text);
    close();
  };
  /** Does something, then closes the dialog (saying what happened, if anything). */
  const then = (act: () => void, text?: string) => () => {
    act();
    if (text) done(text);
    else close();
  };
  const addTo = async (p: Playlist) => {
    try {
      await change<PlaylistDetail>('POST', `/api/playlists/${enc(p.id)}/tracks`, { trackIds: [track.id] });
      done(`Added ${track.title} to ${p.name}`);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    }
  };
  const createWith = async (e: Event) => {
    e.preventDefault();
    try {
      const p = await change<PlaylistDetail>('POST', '/api/playlists', { name, trackIds: [track.id] });
      done(`Created ${p.name} with ${track.title}`);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    }
  };
  return (
    <div class="dialog-body">
      <h2 id="track-menu-title">
        {track.title} <span class="sub">{track.artistName}</span>
      </h2>
      <div class="actions">
        <button type="button" onClick={then(() => player.playList(track.title, [track], 0))}>
          Play now
        </button>
        <button type="button" onClick={then(() => player.playNext(track), `${track.title} plays next`)}>
          Play next
        </button>
        <button
          type="button"
          onClick={then(() => player.enqueue(track), `Added ${track.title} to the queue`)}
        >
          Add to queue
        </button>
        <button type="button" onClick={then(() => navigate(`/albums/${enc(track.albumId)}`))}>
          Go to album
        </button>
        <button type="button" onClick={then(() => navigate(`/artists/${enc(track.artistId)}`))}>
          Go to artist
        </button>
      </div>
      <details class="share-details">
        <summary>Share this track</summary>
        <ShareForm kind="track" id={track.id} name={track.title} />
      </details>
      <h3>Add to playlist</h3>
      {playlists.data ? (
        playlists.data.length > 0 ? (
          <ul class="plain">
            {playlists.data.map((p) => (
              <li key={p.id}>
                <button type="button" class="link-button" onClick={() => void addTo(p)}>
                  Add to {p.name}
                </button>
              </li>
            ))}
          </ul>
        ) : (
          <p class="empty">You have no playlists yet.</p>
        )
      ) : (
        <p class="empty">Loading your playlists…</p>
      )}
      <form class="inline-form" onSubmit={(e) => void createWith(e)}>
        <NameField id="new-playlist-with-track" label="New playlist" value={name} onChange={setName} />
        <button type="submit">Create and add</button>
      </form>
      <FormError message={error} />
      <div class="dialog-footer">
        <button type="button" onClick={close}>
          Close
        </button>
      </div>
    </div>
  );
}
