/**
 * A list read a page at a time with the catalog's cursors: the first page when the page opens,
 * the next on demand ("Show more"), so a library of a million tracks never puts more rows in the
 * page than the listener asked to see.
 */
import { useState } from 'preact/hooks';
import type { CursorPage } from '../../common/contracts/index.js';
import { ApiError, enc, get } from './api.js';
import { useApi } from './use-api.js';

export interface Pages<T> {
  /** Every item read so far, in order. */
  items: readonly T[];
  /** How many the whole list holds, once the first page is in. */
  total: number | undefined;
  /** Whether there is more to read. */
  more: boolean;
  /** Reads the next page and appends it. */
  showMore(): Promise<void>;
  /** The first page's error, while it has none. */
  error: ApiError | undefined;
  /** The error of the last `showMore`, if it failed. */
  moreError: string;
  loaded: boolean;
}

/** `path` must have a query (`?limit=...`): the cursor is added to it. */
export function usePages<T>(path: string): Pages<T> {
  const first = useApi<CursorPage<T>>(path);
  const [rest, setRest] = useState<{ path: string; items: T[]; next: string | null } | null>(null);
  const [moreError, setMoreError] = useState('');
  // Pages read for another path (a new sort) are not this list's.
  const mine = rest?.path === path ? rest : null;
  const next = mine ? mine.next : (first.data?.nextCursor ?? null);

  const showMore = async () => {
    if (!next) return;
    setMoreError('');
    try {
      const page = await get<CursorPage<T>>(`${path}&cursor=${enc(next)}`);
      setRest((r) => ({
        path,
        items: [...(r?.path === path ? r.items : []), ...page.items],
        next: page.nextCursor,
      }));
    } catch (err) {
      setMoreError(err instanceof ApiError ? err.message : String(err));
    }
  };

  return {
    items: first.data ? [...first.data.items, ...(mine?.items ?? [])] : [],
    total: first.data?.total,
    more: first.data !== undefined && next !== null,
    showMore,
    error: first.error,
    moreError,
    loaded: first.data !== undefined,
  };
}
