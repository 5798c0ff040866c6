/** The web player: the page frame, the routes, and the player outside them. */
import { type JSX, render } from 'preact';
import { useEffect, useRef } from 'preact/hooks';
import type { Account } from '../../common/contracts/index.js';
import { change, connection, forgetAnswers } from './api.js';
import { AdminPage } from './pages/admin.js';
import { AlbumPage } from './pages/album.js';
import { AlbumsPage } from './pages/albums.js';
import { ArtistPage, ArtistsPage } from './pages/artists.js';
import { HistoryPage } from './pages/history.js';
import { HomePage } from './pages/home.js';
import { LoginPage } from './pages/login.js';
import { PlaylistPage, PlaylistsPage } from './pages/playlists.js';
import { ReportPage } from './pages/report.js';
import { SearchPage } from './pages/search.js';
import { SettingsPage } from './pages/settings.js';
import { SharesPage } from './pages/shares.js';
import { TracksPage } from './pages/tracks.js';
import { player, reporter } from './player/controller.js';
import { location, match, navigate } from './router.js';
import { clearSession, session } from './session.js';
import { useStore } from './store.js';
import { Announcer } from './ui/announce.js';
import { Link } from './ui/link.js';
import { PlayerBar } from './ui/player-bar.js';
import { TrackMenu } from './ui/track-menu.js';
import { useApi } from './use-api.js';
import './styles.css';

type Page = (params: Record<string, string>) => JSX.Element;

const ROUTES: Array<[string, Page]> = [
  ['/', () => <HomePage />],
  ['/search', () => <SearchPage />],
  ['/artists', () => <ArtistsPage />],
  ['/artists/:id', (p) => <ArtistPage id={p.id!} />],
  ['/albums', () => <AlbumsPage />],
  ['/albums/:id', (p) => <AlbumPage id={p.id!} />],
  ['/tracks', () => <TracksPage />],
  ['/playlists', () => <PlaylistsPage />],
  ['/playlists/:id', (p) => <PlaylistPage id={p.id!} />],
  ['/history', () => <HistoryPage />],
  ['/report', () => <ReportPage />],
  ['/shares', () => <SharesPage />],
  ['/settings', () => <SettingsPage />],
];

const NAV: Array<[string, string]> = [
  ['/', 'Home'],
  ['/search', 'Search'],
  ['/artists', 'Artists'],
  ['/albums', 'Albums'],
  ['/tracks', 'Tracks'],
  ['/playlists', 'Playlists'],
  ['/history', 'History'],
  ['/report', 'Report'],
  ['/shares', 'Shares'],
  ['/settings', 'Settings'],
];

function NotFound(): JSX.Element {
  return (
    <>
      <h1 tabIndex={-1}>Not found</h1>
      <p>
        There is nothing at this address. <Link href="/">Go home</Link>.
      </p>
    </>
  );
}

/** Shown only to administrators; the users service refuses anyone else whatever the page shows. */
const ADMIN_NAV: [string, string] = ['/admin', 'Users'];

function Routed({ path, me }: { path: string; me: string }): JSX.Element {
  if (path === '/admin') return <AdminPage me={me} />;
  for (const [pattern, page] of ROUTES) {
    const params = match(pattern, path);
    if (params) return page(params);
  }
  return <NotFound />;
}

/** The most plays a logout waits for before it revokes the session. */
const LOGOUT_FLUSH_MS = 3000;

export async function logOut(): Promise<void> {
  // Plays not sent yet go first, while the token still works; whatever is left stays kept for next time.
  await Promise.race([reporter.flush(), new Promise((resolve) => setTimeout(resolve, LOGOUT_FLUSH_MS))]);
  player.reset();
  try {
    await change('DELETE', '/api/sessions');
  } catch {
    // Not revoked (the gateway is away): the token is forgotten here anyway, and expires on its own.
  }
  clearSession();
  forgetAnswers();
  navigate('/login');
}

function Banner(): JSX.Element {
  const state = useStore(connection);
  return (
    <div class="banner-slot">
      {state === 'down' ? (
        <div class="banner" role="alert">
          The music service is not answering right now. Retrying…
        </div>
      ) : null}
    </div>
  );
}

/** Space, arrows: the player's shortcuts, unless the key belongs to the control that has focus. */
function onShortcut(e: KeyboardEvent): void {
  if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey) return;
  const target = e.target as HTMLElement | null;
  if (target?.closest('input, textarea, select, [contenteditable], dialog, [role="slider"]')) return;
  const onControl = target?.closest('button, a, summary') !== null && target !== null;
  let handled = true;
  if (e.key === ' ' && !onControl) player.toggle();
  else if (e.key === 'ArrowLeft') e.shiftKey ? player.previous() : player.seekBy(-5);
  else if (e.key === 'ArrowRight') e.shiftKey ? player.next() : player.seekBy(5);
  else if (e.key === 'ArrowUp' && e.shiftKey) player.setVolume(player.audio.volume + 0.1);
  else if (e.key === 'ArrowDown' && e.shiftKey) player.setVolume(player.audio.volume - 0.1);
  else handled = false;
  if (handled) e.preventDefault();
}

function App(): JSX.Element {
  const where = useStore(location);
  const me = useStore(session);
  const main = useRef<HTMLElement>(null);
  const firstPath = useRef(where.path);
  const onAuthPage = where.path === '/login' || where.path === '/register';
  // The role is asked of the server, never kept with the session: it may change at any time.
  const account = useApi<Account>(me && !onAuthPage ? '/api/me' : null);
  const nav = account.data?.admin ? [...NAV, ADMIN_NAV] : NAV;

  // A new user (or none): the previous one's queue goes, this one's comes back.
  const userId = me?.user.id ?? null;
  useEffect(() => {
    forgetAnswers();
    if (!userId) {
      player.reset();
      return;
    }
    player.restore(userId);
    void player.flush();
  }, [userId]);

  useEffect(() => {
    if (!me && !onAuthPage) {
      const next = `${where.path}${where.query.size > 0 ? `?${where.query}` : ''}`;
      navigate(next === '/' ? '/login' : `/login?next=${encodeURIComponent(next)}`, { replace: true });
    }
  }, [me, onAuthPage, where]);

  // After moving to another page, focus goes to its heading, so screen readers announce it.
  useEffect(() => {
    if (where.path === firstPath.current) return;
    firstPath.current = '';
    const heading = main.current?.querySelector<HTMLElement>('h1');
    heading?.focus({ preventScroll: true });
  }, [where.path]);

  useEffect(() => {
    document.addEventListener('keydown', onShortcut);
    return () => document.removeEventListener('keydown', onShortcut);
  }, []);

  if (!me || onAuthPage) {
    return (
      <>
        <Banner />
        <main id="main" class="auth" ref={main}>
          <LoginPage register={where.path === '/register'} />
        </main>
        <Announcer />
      </>
    );
  }
  return (
    <>
      <a class="skip-link" href="#main">
        Skip to content
      </a>
      <header class="top">
        <Link class="brand" href="/">
          Music
        </Link>
        <nav aria-label="Main">
          <ul>
            {nav.map(([href, label]) => {
              const active = href === '/' ? where.path === '/' : where.path.startsWith(href);
              return (
                <li key={href}>
                  <Link href={href} aria-current={active ? 'page' : undefined}>
                    {label}
                  </Link>
                </li>
              );
            })}
          </ul>
        </nav>
        <div class="account">
          <span class="who">{me.user.displayName || me.user.username}</span>
          <button type="button" onClick={() => void logOut()}>
            Log out
          </button>
        </div>
      </header>
      <Banner />
      <main id="main" tabIndex={-1} ref={main}>
        <Routed path={where.path} me={me.user.id} />
      </main>
      <PlayerBar />
      <TrackMenu />
      <Announcer />
    </>
  );
}

render(<App />, document.getElementById('app')!);
