/** Every artist, and one artist with their albums. */
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import type { Album, Artist, CursorPage, Library } from '../../../common/contracts/catalog.js';
import { ApiError, enc, get } from '../api.js';
import { plural } from '../format.js';
import { Cover } from '../ui/cover.js';
import { rememberAlbums } from '../ui/cover-art.js';
import { Link } from '../ui/link.js';
import { Status, Title } from '../ui/title.js';
import { useApi } from '../use-api.js';

/** Artists read at a time; more on demand ("Show more"), so a library of 20,000 is not one page. */
const PAGE = 200;

export function ArtistsPage(): JSX.Element {
  const libraries = useApi<Library[]>('/api/libraries');
  /** One library of those the user sees, or all of them. */
  const [library, setLibrary] = useState<number | null>(null);
  const only = library === null ? '' : `&library=${library}`;
  const artists = useApi<CursorPage<Artist>>(`/api/artists?limit=${PAGE}${only}`);
  const [more, setMore] = useState<{ items: Artist[]; next: string | null } | null>(null);
  const [error, setError] = useState('');
  const shown = artists.data ? [...artists.data.items, ...(more?.items ?? [])] : [];
  const next = more ? more.next : (artists.data?.nextCursor ?? null);

  const showMore = async () => {
    if (!next) return;
    setError('');
    try {
      const page = await get<CursorPage<Artist>>(`/api/artists?limit=${PAGE}&cursor=${enc(next)}${only}`);
      setMore((m) => ({ items: [...(m?.items ?? []), ...page.items], next: page.nextCursor }));
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    }
  };

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
                setMore(null);
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
      {artists.data ? (
        <ul class="cards">
          {shown.map((a) => (
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
      {error ? <p role="alert">{error}</p> : null}
      {artists.data && next ? (
        <p class="more">
          <button type="button" onClick={() => void showMore()}>
            Show more ({shown.length} of {artists.data.total} shown)
          </button>
        </p>
      ) : null}
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
