import type { JSX } from 'preact';
import type { Pages } from '../use-pages.js';

/** The "Show more" button under a paged list, with how much of it is shown, and its error. */
export function ShowMore<T>({ pages }: { pages: Pages<T> }): JSX.Element | null {
  return (
    <>
      {pages.moreError ? <p role="alert">{pages.moreError}</p> : null}
      {pages.more ? (
        <p class="more">
          <button type="button" onClick={() => void pages.showMore()}>
            Show more ({pages.items.length} of {pages.total} shown)
          </button>
        </p>
      ) : null}
    </>
  );
}
