/**
 * The login. The token lives in memory and in localStorage (so a reload or a second tab stays
 * logged in, as the terminal client keeps its session file), and is sent only as an
 * `Authorization: Bearer` header: the gateway reads no cookie, so another site cannot make
 * the browser send an authenticated request (no CSRF). The price is that a script injected
 * into this page (XSS) could read the token; see docs/WEB.md for what keeps that out.
 */
import type { Session } from '../../common/contracts/index.js';
import { createStore } from './store.js';

const KEY = 'music.session';

export type SavedSession = Pick<Session, 'token' | 'expiresAt'> & {
  user: Pick<Session['user'], 'id' | 'username' | 'displayName'>;
};

function load(): SavedSession | null {
  try {
    const s = JSON.parse(localStorage.getItem(KEY) ?? 'null') as Partial<SavedSession> | null;
    if (!s || typeof s.token !== 'string' || typeof s.user?.id !== 'string') return null;
    if (typeof s.expiresAt === 'string' && Date.parse(s.expiresAt) <= Date.now()) return null;
    return s as SavedSession;
  } catch {
    return null;
  }
}

export const session = createStore<SavedSession | null>(load());

export function saveSession(s: Session): void {
  const saved: SavedSession = {
    token: s.token,
    expiresAt: s.expiresAt,
    user: { id: s.user.id, username: s.user.username, displayName: s.user.displayName },
  };
  try {
    localStorage.setItem(KEY, JSON.stringify(saved));
  } catch {
    // Storage refused (private mode, full): the login lasts as long as the page.
  }
  session.set(saved);
}

export function clearSession(): void {
  try {
    localStorage.removeItem(KEY);
  } catch {
    // Nothing stored.
  }
  session.set(null);
}

// Logging in or out in another tab does the same here.
addEventListener('storage', (e) => {
  if (e.key === KEY || e.key === null) session.set(load());
});
