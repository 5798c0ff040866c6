/** Every album, a page at a time, in the order the listener picks. */
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import type { Album } from '../../../common/contracts/index.js';
import { path } from '../api.js';
import { ShowMore } from '../ui/show-more.js';
import { Status, Title } from '../ui/title.js';
import { usePages } from '../use-pages.js';
import { AlbumCards } from './artists.js';

/** Albums read at a time ("Show more" reads the next ones). */
const PAGE = 100;
const SORTS = [
  ['alphabetical', 'A-Z'],
  ['artist', 'By artist'],
  ['newest', 'Newest'],
  ['year', 'By year'],
] as const;
type Sort = (typeof SORTS)[number][0];

export function AlbumsPage(): JSX.Element {
  const [sort, setSort] = useState<Sort>('alphabetical');
  const albums = usePages<Album>(path('/api/albums', { sort, limit: PAGE }));
  return (
    <>
      <Title text="Albums" />
      <fieldset class="segmented">
        <legend class="sr-only">Order</legend>
        {SORTS.map(([s, text]) => (
          <button key={s} type="button" aria-pressed={s === sort} onClick={() => setSort(s)}>
            {text}
          </button>
        ))}
      </fieldset>
      {albums.loaded ? <AlbumCards albums={albums.items} showArtist /> : <Status error={albums.error} />}
      <ShowMore pages={albums} />
    </>
  );
}
