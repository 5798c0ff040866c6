/**
 * Client-side routes over the History API: links change the address without a page load, so
 * the player (outside the routed part) keeps playing. The gateway answers every such address
 * with index.html (gateway/web.ts), so a reload or a shared link opens the same page.
 */
import { createStore } from './store.js';

export interface Location {
  path: string;
  query: URLSearchParams;
}

function current(): Location {
  return { path: window.location.pathname, query: new URLSearchParams(window.location.search) };
}

export const location = createStore<Location>(current());

addEventListener('popstate', () => location.set(current()));

/** Goes to `to` (a path with an optional query); `replace` keeps the history entry (e.g. typing a search). */
export function navigate(to: string, { replace = false } = {}): void {
  const url = new URL(to, window.location.origin);
  const target = `${url.pathname}${url.search}`;
  if (target === `${window.location.pathname}${window.location.search}`) return;
  if (replace) history.replaceState(null, '', target);
  else history.pushState(null, '', target);
  location.set(current());
  if (!replace) window.scrollTo(0, 0);
}

/** The parameters of `pattern` (`/albums/:id`) in `path`, or null when it does not match. */
export function match(pattern: string, path: string): Record<string, string> | null {
  const want = pattern.split('/');
  const have = path.replace(/\/+$/, '').split('/');
  if (pattern === '/' && (path === '/' || path === '')) return {};
  if (want.length !== have.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    const w = want[i]!;
    const h = have[i]!;
    if (w.startsWith(':')) {
      if (h === '') return null;
      try {
        params[w.slice(1)] = decodeURIComponent(h);
      } catch {
        return null;
      }
    } else if (w !== h) return null;
  }
  return params;
}
