/** Every artist, and one artist with their albums. */
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import type { Album, Artist, Library } from '../../../common/contracts/index.js';
import { enc } from '../api.js';
import { plural } from '../format.js';
import { Cover } from '../ui/cover.js';
import { rememberAlbums } from '../ui/cover-art.js';
import { Link } from '../ui/link.js';
import { ShowMore } from '../ui/show-more.js';
import { Status, Title } from '../ui/title.js';
import { useApi } from '../use-api.js';
import { usePages } from '../use-pages.js';

/** Artists read at a time; more on demand ("Show more"), so a library of 20,000 is not one page. */
const PAGE = 200;

export function ArtistsPage(): JSX.Element {
  const libraries = useApi<Library[]>('/api/libraries');
  /** One library of those the user sees, or all of them. */
  const [library, setLibrary] = useState<number | null>(null);
  const only = library === null ? '' : `&library=${library}`;
  const artists = usePages<Artist>(`/api/artists?limit=${PAGE}${only}`);

  return (
    <>
      <Title text="Artists" />
      {libraries.data && libraries.data.length > 1 ? (
        <p>
          <label>
            Library{' '}
            <select
              value={library ?? ''}
              onChange={(e) => {
                const value = (e.currentTarget as HTMLSelectElement).value;
                setLibrary(value ? Number(value) : null);
              }}
            >
              <option value="">All libraries</option>
              {libraries.data.map((l) => (
                <option key={l.id} value={l.id}>
                  {l.name}
                </option>
              ))}
            </select>
          </label>
        </p>
      ) : null}
      {artists.loaded ? (
        <ul class="cards">
          {artists.items.map((a) => (
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
      <ShowMore pages={artists} />
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
