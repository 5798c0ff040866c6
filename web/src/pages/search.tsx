/** Search as you type: artists, albums and tracks, asked for once typing pauses. */
import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { SearchResult } from '../../../common/contracts/index.js';
import { enc, path } from '../api.js';
import { location, navigate } from '../router.js';
import { Link } from '../ui/link.js';
import { Status, Title } from '../ui/title.js';
import { TrackList } from '../ui/track-list.js';
import { useApi } from '../use-api.js';
import { AlbumCards } from './artists.js';

/** How long typing must pause before the search is sent. */
export const SEARCH_DEBOUNCE_MS = 250;

export function SearchPage(): JSX.Element {
  const [text, setText] = useState(location.get().query.get('q') ?? '');
  const [query, setQuery] = useState(text.trim());
  useEffect(() => {
    const timer = setTimeout(() => {
      setQuery(text.trim());
      // The address keeps the search, so reload and back find it again.
      navigate(text.trim() ? path('/search', { q: text.trim() }) : '/search', { replace: true });
    }, SEARCH_DEBOUNCE_MS);
    return () => clearTimeout(timer);
  }, [text]);
  const results = useApi<SearchResult>(query ? path('/api/search', { q: query, limit: 20 }) : null);
  const r = results.data;
  return (
    <>
      <Title text="Search" />
      <search>
        <form class="search-form" onSubmit={(e) => e.preventDefault()}>
          <label for="search-input">Search artists, albums and tracks</label>
          <input
            id="search-input"
            type="search"
            maxLength={200}
            autoComplete="off"
            value={text}
            onInput={(e) => setText(e.currentTarget.value)}
          />
        </form>
      </search>
      <div aria-live="polite" aria-busy={query !== '' && !r && !results.error}>
        {!query ? (
          <p class="empty">Type to search.</p>
        ) : !r ? (
          <Status error={results.error} />
        ) : r.artists.length + r.albums.length + r.tracks.length === 0 ? (
          <p class="empty">Nothing found for “{query}”.</p>
        ) : (
          <p class="sr-only">
            {r.artists.length} artists, {r.albums.length} albums, {r.tracks.length} tracks
          </p>
        )}
      </div>
      {r && r.artists.length > 0 ? (
        <section aria-labelledby="found-artists" class="panel">
          <h2 id="found-artists">Artists</h2>
          <ul class="chips">
            {r.artists.map((a) => (
              <li key={a.id}>
                <Link href={`/artists/${enc(a.id)}`}>{a.name}</Link>
              </li>
            ))}
          </ul>
        </section>
      ) : null}
      {r && r.albums.length > 0 ? (
        <section aria-labelledby="found-albums" class="panel">
          <h2 id="found-albums">Albums</h2>
          <AlbumCards albums={r.albums} showArtist />
        </section>
      ) : null}
      {r && r.tracks.length > 0 ? (
        <section aria-labelledby="found-tracks" class="panel">
          <h2 id="found-tracks">Tracks</h2>
          <TrackList tracks={r.tracks} label={`Search: ${query}`} />
        </section>
      ) : null}
    </>
  );
}
