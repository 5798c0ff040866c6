/** Every artist, and one artist with their albums. */
import type { JSX } from 'preact';
import type { Album, Artist } from '../../../common/contracts/catalog.js';
import type { Page } from '../../../common/contracts/shared.js';
import { enc } from '../api.js';
import { plural } from '../format.js';
import { Cover } from '../ui/cover.js';
import { rememberAlbums } from '../ui/cover-art.js';
import { Link } from '../ui/link.js';
import { Status, Title } from '../ui/title.js';
import { useApi } from '../use-api.js';

export function ArtistsPage(): JSX.Element {
  const artists = useApi<Page<Artist>>('/api/artists?limit=500');
  return (
    <>
      <Title text="Artists" />
      {artists.data ? (
        <ul class="cards">
          {artists.data.items.map((a) => (
            <li key={a.id} class="card">
              <Link href={`/artists/${enc(a.id)}`}>
                <span class="avatar" aria-hidden="true">
                  {[...a.name][0]}
                </span>
                <span class="title">{a.name}</span>
                <span class="sub">{plural(a.albumCount, 'album')}</span>
              </Link>
            </li>
          ))}
        </ul>
      ) : (
        <Status error={artists.error} />
      )}
    </>
  );
}

export function AlbumCards({
  albums,
  showArtist,
}: {
  albums: readonly Album[];
  showArtist: boolean;
}): JSX.Element {
  rememberAlbums(albums);
  return (
    <ul class="cards">
      {albums.map((a) => (
        <li key={a.id} class="card">
          <Link href={`/albums/${enc(a.id)}`}>
            <Cover title={a.title} color={a.coverColor} size={160} decorative />
            <span class="title">{a.title}</span>
            <span class="sub">{[showArtist ? a.artistName : null, a.year].filter(Boolean).join(' · ')}</span>
          </Link>
        </li>
      ))}
    </ul>
  );
}

export function ArtistPage({ id }: { id: string }): JSX.Element {
  const artist = useApi<Artist & { albums: Album[] }>(`/api/artists/${enc(id)}`);
  const a = artist.data;
  return (
    <>
      <Title text={a?.name ?? 'Artist'} />
      {a ? (
        <>
          <p class="sub">{plural(a.albums.length, 'album')}</p>
          <AlbumCards albums={a.albums} showArtist={false} />
        </>
      ) : (
        <Status error={artist.error} />
      )}
    </>
  );
}
