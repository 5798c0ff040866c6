/** An album: its cover, what it is, and its tracks. */
import type { JSX } from 'preact';
import type { Album, Track } from '../../../common/contracts/index.js';
import { enc } from '../api.js';
import { clockMs, plural } from '../format.js';
import { player } from '../player/controller.js';
import { announce } from '../ui/announce.js';
import { Cover } from '../ui/cover.js';
import { rememberAlbums } from '../ui/cover-art.js';
import { Icon } from '../ui/icons.js';
import { Link } from '../ui/link.js';
import { ShareButton } from '../ui/share-form.js';
import { Status, Title } from '../ui/title.js';
import { TrackList } from '../ui/track-list.js';
import { useApi } from '../use-api.js';

export function AlbumPage({ id }: { id: string }): JSX.Element {
  const album = useApi<Album & { tracks: Track[] }>(`/api/albums/${enc(id)}`);
  const a = album.data;
  if (!a)
    return (
      <>
        <Title text="Album" />
        <Status error={album.error} />
      </>
    );
  rememberAlbums([a]);
  return (
    <>
      <div class="hero">
        <Cover title={a.title} color={a.coverColor} size={220} />
        <div>
          <p class="kind">Album</p>
          <Title text={a.title} />
          <p>
            <Link href={`/artists/${enc(a.artistId)}`}>{a.artistName}</Link>
            {[a.year, a.genre, plural(a.trackCount, 'track'), clockMs(a.durationMs)]
              .filter(Boolean)
              .map((x) => ` · ${x}`)}
          </p>
          <div class="actions">
            <button type="button" class="primary" onClick={() => player.playList(a.title, a.tracks, 0)}>
              <Icon name="play" /> Play album
            </button>
            <button
              type="button"
              onClick={() => {
                for (const t of a.tracks) player.enqueue(t);
                announce(`Added ${a.title} to the queue`);
              }}
            >
              <Icon name="queue" /> Add album to queue
            </button>
            <ShareButton kind="album" id={a.id} name={a.title} />
          </div>
        </div>
      </div>
      <TrackList tracks={a.tracks} label={a.title} album />
    </>
  );
}
