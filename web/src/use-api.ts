/**
 * Data for a page: one GET, retried while the gateway is away (api.ts), and for live lists
 * asked again every few seconds with If-None-Match, so an unchanged list costs a 304 and no
 * re-render. Why polling and not Server-Sent Events: see docs/WEB.md ("Live updates").
 */
import { useEffect, useState } from 'preact/hooks';
import { ApiError, getJson } from './api.js';
import { playsSent } from './player/controller.js';

/** How often live lists ask again (only while the page is visible). */
export const LIVE_INTERVAL_MS = 5000;

export interface Loaded<T> {
  data: T | undefined;
  error: ApiError | undefined;
  /** Ask again now (after a change the page made). */
  reload(): void;
  /** Replace the data shown (an answer to a change that returned the new state). */
  set(data: T): void;
}

export function useApi<T>(path: string | null, opts: { live?: boolean } = {}): Loaded<T> {
  const [state, setState] = useState<{ path: string | null; data?: T; error?: ApiError }>({ path });
  const [version, setVersion] = useState(0);
  const live = opts.live ?? false;

  useEffect(() => {
    if (path === null) return;
    const abort = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let loading = false;
    /** Data of this path is shown: an unchanged answer (304) then needs no render. */
    let shown = false;

    const load = async () => {
      if (loading) return;
      loading = true;
      clearTimeout(timer);
      try {
        const { data, changed } = await getJson<T>(path, abort.signal);
        if (changed || !shown) setState({ path, data });
        shown = true;
      } catch (err) {
        if (abort.signal.aborted) return;
        setState((s) => ({
          ...s,
          path,
          error: err instanceof ApiError ? err : new ApiError(String(err), 0),
        }));
      } finally {
        loading = false;
      }
      if (live && !abort.signal.aborted) timer = setTimeout(poll, LIVE_INTERVAL_MS);
    };
    const poll = () => {
      if (document.visibilityState === 'visible') void load();
    };
    const visible = () => {
      if (document.visibilityState === 'visible' && live) void load();
    };

    void load();
    const unsubscribe = live ? playsSent.subscribe(() => void load()) : () => {};
    document.addEventListener('visibilitychange', visible);
    return () => {
      abort.abort();
      clearTimeout(timer);
      unsubscribe();
      document.removeEventListener('visibilitychange', visible);
    };
  }, [path, version, live]);

  // Data of another path is not shown while the new one loads.
  const current = state.path === path ? state : { path };
  return {
    data: current.data,
    error: current.error,
    reload: () => setVersion((v) => v + 1),
    set: (data: T) => setState({ path, data }),
  };
}
