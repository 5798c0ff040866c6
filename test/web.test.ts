/**
 * The web player in a real browser: Debian's Chromium driven by playwright-core (never a
 * downloaded browser), against a whole system of real processes (gateway, the five services,
 * RabbitMQ and PostgreSQL in its own namespace and database; test/support/system.ts) whose
 * gateway serves the built player (built here when missing or stale).
 *
 * One listener's session, step by step: log in, search, open an album, play and seek, queue
 * and skip, playlists (add, reorder by keyboard and by drag, rename, remove, delete), history
 * and live lists, the banner and kept plays while the gateway cannot reach the broker, phone
 * width and 200 % zoom, log out. Screenshots go to test-results/web/; with
 * WEB_DOC_SCREENSHOTS=1 the two in the README (docs/img/) are taken again.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { BrowserContext, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { grantLibraries, loadCatalog } from '../bench/catalog-data.js';
import type { Album, Lyrics, SearchResult, Track } from '../common/contracts/catalog.js';
import type { Play } from '../common/contracts/history.js';
import type { PlaylistDetail } from '../common/contracts/playlists.js';
import { createPool, withTransaction } from '../common/db/pool.js';
import { importFolder } from '../services/catalog/index.js';
import { removeTracks } from '../services/catalog/store.js';
import { assertChromium, launchChromium } from './support/browser.js';
import { ScrobbleStandIn } from './support/scrobble-standin.js';
import { ApiClient, DEMO_PASSWORD, DEMO_USERNAME, System } from './support/system.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ARTIFACTS = join(ROOT, 'test-results', 'web');
const DOC_IMAGES = join(ROOT, 'docs', 'img');
/** Generous: the machine is small and shared; every wait is on a condition, none is a fixed sleep. */
const WAIT_MS = 30_000;
const STEP_MS = 120_000;

const run = promisify(execFile);

// What the functions run in the page (page.evaluate) use there, typed here without the DOM library.
interface PageAudio {
  addEventListener(type: string, listener: () => void): void;
  muted: boolean;
  volume: number;
  currentTime: number;
  duration: number;
  paused: boolean;
  buffered: { length: number; end(index: number): number };
}
interface PageElement {
  getAttribute(name: string): string | null;
  textContent: string | null;
  outerHTML: string;
  closest(selector: string): PageElement | null;
  querySelectorAll(selector: string): ArrayLike<PageElement>;
  labels?: ArrayLike<{ textContent: string | null }> | null;
  blur?(): void;
}
declare const document: {
  querySelector(selector: 'audio'): PageAudio | null;
  querySelectorAll(selector: string): ArrayLike<PageElement>;
  getElementById(id: string): PageElement | null;
  activeElement: PageElement | null;
  documentElement: { scrollWidth: number };
};
declare const window: {
  innerWidth: number;
  notReloaded?: boolean;
  ticks?: number;
  keyTimes?: number[];
  addEventListener(type: string, listener: () => void, capture?: boolean): void;
};
declare const navigator: { mediaSession: { metadata: { title: string; artist: string } | null } };
declare const performance: { now(): number };
declare const localStorage: {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
};

describe('the web player in headless Chromium', () => {
  let system: System;
  /** ListenBrainz as the scrobbler sees it (the real one cannot be reached from here). */
  const listenBrainz = new ScrobbleStandIn();
  let browser: BrowserContext;
  let page: Page;
  let closeBrowser: (() => Promise<void>) | undefined;
  const api = () => new ApiClient(system.baseUrl);
  const errors: string[] = [];
  const cleanups: Array<() => Promise<void>> = [];
  /** The album the session plays: found through the API, at least five tracks. */
  let album: Album & { tracks: Track[] };

  beforeAll(async () => {
    assertChromium();
    await run(join(ROOT, 'scripts', 'build.sh'), ['web'], { cwd: ROOT, timeout: 300_000 });
    await mkdir(ARTIFACTS, { recursive: true });
    await listenBrainz.listen();
    system = await System.start({ label: 'web', env: { LISTENBRAINZ_URL: listenBrainz.listenbrainzUrl } });
    const chromium = await launchChromium('web');
    browser = chromium.context;
    closeBrowser = chromium.close;
    page = browser.pages()[0] ?? (await browser.newPage());
    page.setDefaultTimeout(WAIT_MS);
    page.on('pageerror', (err) => errors.push(err.message));
    // Console errors too (a refused Content-Security-Policy shows there), except the browser's
    // own note on each answer that is not 2xx, which this test causes on purpose (401, 503).
    page.on('console', (msg) => {
      if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource'))
        errors.push(msg.text());
    });

    const search = await api().request<SearchResult>('GET', '/api/search?q=blue');
    for (const a of search.body.albums) {
      const full = await api().request<Album & { tracks: Track[] }>('GET', `/api/albums/${a.id}`);
      if (full.body.tracks.length >= 5) {
        album = full.body;
        break;
      }
    }
    if (!album) throw new Error('the seed catalog has no album with "blue" and five tracks');
  }, 300_000);

  afterAll(async () => {
    for (const cleanup of cleanups) await cleanup();
    await closeBrowser?.();
    await system?.stop();
    await listenBrainz.close();
  }, 120_000);

  const shot = (name: string) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`) });
  const playerRegion = () => page.getByRole('region', { name: 'Player' });
  const audio = <T>(read: (a: PageAudio) => T): Promise<T> =>
    page.locator('audio').evaluate(read as (a: unknown) => T);
  const nowPlaying = () => playerRegion().locator('.now .title');
  /** Navigation inside the app (no page load, so playback goes on), by the main menu. */
  const go = (label: string) =>
    page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: label, exact: true }).click();
  const trackRow = (scope: Page | Locator, title: string) =>
    scope.getByRole('listitem').filter({ has: page.getByText(title, { exact: true }) });
  /** Seeks the playing track to `secondsLeft` before its end with the seek slider's keys. */
  const seekNearEnd = async (secondsLeft: number) => {
    const seek = playerRegion().getByRole('slider', { name: 'Seek' });
    await seek.focus();
    await page.keyboard.press('End');
    for (let i = 0; i < secondsLeft; i++) await page.keyboard.press('ArrowLeft');
  };
  const keptPlays = () =>
    page.evaluate(() => (JSON.parse(localStorage.getItem('music.keptPlays') ?? '[]') as unknown[]).length);
  const historyIds = async () => {
    const client = api();
    await client.login(DEMO_USERNAME, DEMO_PASSWORD);
    const reply = await client.request<Play[]>('GET', '/api/me/history?limit=100');
    return reply.body.map((p) => p.trackId);
  };

  it('serves the built player with cache headers, and JSON answers with weak ETags and 304s', async () => {
    const index = await fetch(`${system.baseUrl}/`, { headers: { accept: 'text/html' } });
    expect(index.status).toBe(200);
    expect(index.headers.get('cache-control')).toBe('no-cache');
    expect(index.headers.get('content-security-policy')).toContain("script-src 'self'");
    const html = await index.text();
    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(asset).toBeDefined();
    const js = await fetch(`${system.baseUrl}${asset}`);
    expect(js.status).toBe(200);
    expect(js.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    // An address of the app opened in the browser is the app's page; an API path is not.
    const deep = await fetch(`${system.baseUrl}/albums/${album.id}`, { headers: { accept: 'text/html' } });
    expect(await deep.text()).toBe(html);
    const apiMiss = await fetch(`${system.baseUrl}/api/nowhere`, { headers: { accept: 'text/html' } });
    expect(apiMiss.status).toBe(404);
    expect(apiMiss.headers.get('content-type')).toContain('application/json');

    // What live lists rely on: express's weak ETag on JSON, and a 304 when it still matches;
    // but never to a request saying `Cache-Control: no-cache`, which fetch adds to conditional
    // requests unless told otherwise (the player sends max-age=0).
    const top = await fetch(`${system.baseUrl}/api/stats/top-tracks?window=day`);
    const etag = top.headers.get('etag');
    expect(etag).toMatch(/^W\/"/);
    const conditional = (cacheControl: string) =>
      fetch(`${system.baseUrl}/api/stats/top-tracks?window=day`, {
        headers: { 'if-none-match': etag!, 'cache-control': cacheControl },
      });
    expect((await conditional('max-age=0')).status).toBe(304);
    expect((await conditional('no-cache')).status).toBe(200);
    const client = api();
    await client.login();
    const mine = await client.request('GET', '/api/me/history?limit=10');
    const mineAgain = await client.request('GET', '/api/me/history?limit=10', {
      headers: { 'if-none-match': mine.headers.get('etag')!, 'cache-control': 'max-age=0' },
    });
    expect(mineAgain.status).toBe(304);
  });

  it('sends a visitor to log in, and logs in as the demo user', { timeout: STEP_MS }, async () => {
    await page.goto(`${system.baseUrl}/`);
    await page.getByRole('heading', { name: 'Log in' }).waitFor();
    await page.waitForURL((url) => url.pathname === '/login');
    await page.getByLabel('Username').fill('demo');
    await page.getByLabel('Password').fill('wrong-password');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('alert').waitFor();
    await shot('login');
    await page.getByLabel('Password').fill(DEMO_PASSWORD);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { name: 'Home', level: 1 }).waitFor();
    await page.getByRole('heading', { name: 'Most played' }).waitFor();
    await playerRegion().waitFor();
  });

  it('searches as you type, asking once typing pauses', { timeout: STEP_MS }, async () => {
    await go('Search');
    const searches: string[] = [];
    const onRequest = (r: { url(): string }) => {
      if (r.url().includes('/api/search')) searches.push(r.url());
    };
    page.on('request', onRequest);
    // When each key really arrived, so the check holds however slowly a busy machine types.
    await page.evaluate(() => {
      window.keyTimes = [];
      window.addEventListener('input', () => window.keyTimes!.push(performance.now()), true);
    });
    await page.getByLabel('Search artists, albums and tracks').pressSequentially('blue', { delay: 40 });
    await page.getByRole('heading', { name: 'Tracks' }).waitFor();
    await page.getByRole('heading', { name: 'Albums' }).waitFor();
    page.off('request', onRequest);
    const keyTimes = await page.evaluate(() => window.keyTimes ?? []);
    expect(keyTimes).toHaveLength(4);
    // A search goes out only after a pause in typing (250 ms): at most one per pause, plus the last.
    const pauses = keyTimes.slice(1).filter((t, i) => t - keyTimes[i]! >= 200).length;
    expect(searches.length).toBeGreaterThanOrEqual(1);
    expect(searches.length).toBeLessThanOrEqual(pauses + 1);
    expect(searches.at(-1)).toContain('q=blue');
    expect(new URL(page.url()).search).toBe('?q=blue');
    await shot('search');
  });

  it('opens an album, plays a track (currentTime advances), seeks, and reports the play when it ends', {
    timeout: STEP_MS,
  }, async () => {
    const found = page.locator('section', { has: page.getByRole('heading', { name: 'Albums' }) });
    await found.getByRole('link', { name: album.title }).first().click();
    await page.getByRole('heading', { name: album.title, level: 1 }).waitFor();
    await page.getByRole('img', { name: `Cover of ${album.title}` }).waitFor();
    const [first, second] = album.tracks;
    await page.getByRole('button', { name: `Play ${first!.title}`, exact: true }).click();
    await nowPlaying().getByText(first!.title).waitFor();
    await page.waitForFunction(() => (document.querySelector('audio')?.currentTime ?? 0) > 0.5);
    const t1 = await audio((a) => a.currentTime);
    await page.waitForFunction((t) => (document.querySelector('audio')?.currentTime ?? 0) > t + 0.5, t1);
    expect(await audio((a) => a.paused)).toBe(false);
    // The lock screen and media keys know what plays.
    await expect
      .poll(() => page.evaluate(() => navigator.mediaSession.metadata?.title ?? null))
      .toBe(first!.title);
    await shot('album');

    // Seek with the slider's keys to 2 s before the end; the end reports the play, with its play id.
    const reported = page.waitForResponse(
      (r) => r.url().endsWith('/api/plays') && r.request().method() === 'POST',
      { timeout: WAIT_MS },
    );
    await seekNearEnd(2);
    const duration = await audio((a) => a.duration);
    expect(await audio((a) => a.currentTime)).toBeGreaterThan(duration - 4);
    const response = await reported;
    expect(response.status()).toBe(202);
    const body = response.request().postDataJSON() as { trackId: string; playId: string; msPlayed: number };
    expect(body.trackId).toBe(first!.id);
    expect(body.playId).toMatch(/^[0-9a-f-]{36}$/);
    expect(body.msPlayed).toBeGreaterThan(0);
    // The album goes on with its next track.
    await nowPlaying().getByText(second!.title).waitFor();
    await expect.poll(keptPlays).toBe(0);
  });

  it('keeps playing while the listener moves between pages', { timeout: STEP_MS }, async () => {
    await go('Artists');
    await page.getByRole('heading', { name: 'Artists', level: 1 }).waitFor();
    await go('Home');
    await page.getByRole('heading', { name: 'Home', level: 1 }).waitFor();
    // The same element goes on playing (whichever track it is on by now): its position keeps moving.
    await audio((a) => {
      window.ticks = 0;
      a.addEventListener('timeupdate', () => {
        window.ticks = (window.ticks ?? 0) + 1;
      });
    });
    await page.waitForFunction(
      () => (window.ticks ?? 0) >= 3 && document.querySelector('audio')?.paused === false,
    );
    expect(await page.evaluate(() => document.querySelectorAll('audio').length)).toBe(1);
  });

  it('shows the lyrics of what plays: the current line follows the audio, a click on a line seeks', {
    timeout: STEP_MS,
  }, async () => {
    // A track of the album whose (seeded, synced) lyrics have at least four lines.
    let chosen: { track: Track; lyrics: Lyrics } | undefined;
    for (const track of album.tracks) {
      const reply = await api().request<Lyrics>('GET', `/api/tracks/${track.id}/lyrics`);
      if (reply.status === 200 && reply.body.synced && reply.body.lines.length >= 4) {
        chosen = { track, lyrics: reply.body };
        break;
      }
    }
    if (!chosen) throw new Error(`no track of ${album.title} has four lines of synced lyrics`);
    const { track, lyrics } = chosen;
    await go('Home');
    await page.getByRole('link', { name: album.title }).first().click();
    await page.getByRole('button', { name: `Play ${track.title}`, exact: true }).click();
    await nowPlaying().getByText(track.title).waitFor();
    const toggle = playerRegion().getByRole('button', { name: 'Lyrics', exact: true });
    await toggle.click();
    const panel = page.locator('#lyrics-panel');
    await panel.getByRole('listitem').first().waitFor();
    expect(await panel.getByRole('listitem').allTextContents()).toEqual(lyrics.lines.map((l) => l.text));
    const current = panel.locator('li[aria-current="true"]');
    // The second line starts 3.5 s in: it becomes current as the audio passes it.
    await expect.poll(() => current.textContent(), { timeout: 15_000 }).toBe(lyrics.lines[1]!.text);
    expect(await audio((a) => a.currentTime)).toBeGreaterThanOrEqual(lyrics.lines[1]!.startMs! / 1000 - 0.3);
    await shot('lyrics');
    // A click on the fourth line seeks to it.
    await panel.getByRole('listitem').nth(3).getByRole('button').click();
    await expect
      .poll(() => audio((a) => a.currentTime))
      .toBeGreaterThanOrEqual(lyrics.lines[3]!.startMs! / 1000 - 0.05);
    await expect.poll(() => current.textContent()).toBe(lyrics.lines[3]!.text);
    await toggle.click();
    await expect(panel.isHidden()).resolves.toBe(true);
  });

  it('levels loudness by ReplayGain read at import: by track, by album, or not', {
    timeout: STEP_MS,
  }, async () => {
    // A tagged file, imported into this system's catalog as `npm run import` does.
    // Kept until the end: the track may still play in later steps.
    const folder = await mkdtemp(join(tmpdir(), 'music-web-gain-'));
    cleanups.push(() => rm(folder, { recursive: true, force: true }));
    const catalogDb = createPool({ url: system.databaseUrl, schema: 'catalog', max: 2 });
    try {
      await mkdir(join(folder, 'Gain Artist', 'Level Set'), { recursive: true });
      await run('ffmpeg', [
        ...['-nostdin', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'sine=frequency=440:duration=20'],
        ...[
          '-metadata',
          'title=Levelled Tone',
          '-metadata',
          'artist=Gain Artist',
          '-metadata',
          'album=Level Set',
        ],
        ...['-metadata', 'REPLAYGAIN_TRACK_GAIN=-6.00 dB', '-metadata', 'REPLAYGAIN_TRACK_PEAK=0.9'],
        ...['-metadata', 'REPLAYGAIN_ALBUM_GAIN=-12.00 dB', '-metadata', 'REPLAYGAIN_ALBUM_PEAK=0.9'],
        join(folder, 'Gain Artist', 'Level Set', '01 Levelled Tone.flac'),
      ]);
      expect(await importFolder(catalogDb, folder)).toMatchObject({ read: 1, skipped: [] });
    } finally {
      await catalogDb.end();
    }
    {
      const found = await api().request<SearchResult>('GET', '/api/search?q=levelled%20tone');
      const track = found.body.tracks[0]!;
      expect(track.replayGain).toEqual({
        trackGain: -6,
        trackPeak: expect.closeTo(0.9, 5),
        albumGain: -12,
        albumPeak: expect.closeTo(0.9, 5),
      });
      await page.goto(`${system.baseUrl}/albums/${encodeURIComponent(track.albumId)}`);
      await page.getByRole('button', { name: `Play ${track.title}`, exact: true }).click();
      await nowPlaying().getByText(track.title).waitFor();
      const listenerVolume = await page.evaluate(() => Number(localStorage.getItem('music.volume') ?? 0.8));
      expect(listenerVolume).toBeGreaterThan(0);
      const levelling = playerRegion().getByRole('combobox', { name: 'Volume levelling (ReplayGain)' });
      const expectVolume = (dB: number) =>
        expect.poll(() => audio((a) => a.volume)).toBeCloseTo(listenerVolume * 10 ** (dB / 20), 3);
      await levelling.selectOption('track');
      await expectVolume(-6);
      await levelling.selectOption('album');
      await expectVolume(-12);
      await levelling.selectOption('off');
      await expectVolume(0);
      // The slider shows the listener's volume, not the levelled one.
      const slider = playerRegion().getByRole('slider', { name: 'Volume' });
      expect(Number(await slider.inputValue())).toBe(Math.round(listenerVolume * 100));
      await levelling.selectOption('track');
      await expectVolume(-6);
    }
    // Back to where the next steps expect to be: the album, from its second track.
    await page.goto(`${system.baseUrl}/albums/${encodeURIComponent(album.id)}`);
    await page.getByRole('button', { name: `Play ${album.tracks[1]!.title}`, exact: true }).click();
    await nowPlaying().getByText(album.tracks[1]!.title).waitFor();
  });

  it('queues two tracks and skips to them; play/pause by keyboard', { timeout: STEP_MS }, async () => {
    await nowPlaying().click(); // the player's title links to the album
    await page.getByRole('heading', { name: album.title, level: 1 }).waitFor();
    const [, , third, fourth, fifth] = album.tracks;
    await page.getByRole('button', { name: `Add ${fourth!.title} to queue`, exact: true }).click();
    await page.getByRole('button', { name: `Add ${fifth!.title} to queue`, exact: true }).click();
    await playerRegion().getByRole('button', { name: 'Queue' }).click();
    const upNext = playerRegion().getByRole('list', { name: 'Next in queue' });
    await expect
      .poll(() => upNext.getByRole('listitem').allInnerTexts())
      .toEqual([expect.stringContaining(fourth!.title), expect.stringContaining(fifth!.title)]);
    await playerRegion().getByRole('button', { name: 'Next track' }).click();
    await nowPlaying().getByText(fourth!.title).waitFor();
    await playerRegion().getByRole('button', { name: 'Next track' }).click();
    await nowPlaying().getByText(fifth!.title).waitFor();
    // Queued tracks done: the album goes on where it was.
    await playerRegion().getByRole('button', { name: 'Next track' }).click();
    await nowPlaying().getByText(third!.title).waitFor();
    expect(await upNext.count()).toBe(0);
    await page.waitForFunction(() => !document.querySelector('audio')?.paused);

    // "Play next" from the track's dialog, then removed from the queue again.
    await page.getByRole('button', { name: `More actions for ${fifth!.title}` }).click();
    await page.getByRole('dialog').getByRole('heading', { name: fifth!.title }).waitFor();
    await shot('track-dialog');
    await page.getByRole('dialog').getByRole('button', { name: 'Play next' }).click();
    await upNext.getByText(fifth!.title).waitFor();
    await shot('queue');
    await playerRegion()
      .getByRole('button', { name: `Remove ${fifth!.title} from the queue` })
      .first()
      .click();
    await expect.poll(() => upNext.count()).toBe(0);
    await playerRegion().getByRole('button', { name: 'Close the queue' }).click();

    // Space outside any control pauses and plays again.
    await page.evaluate(() => document.activeElement?.blur?.());
    await page.keyboard.press('Space');
    await page.waitForFunction(() => document.querySelector('audio')?.paused === true);
    await playerRegion().getByRole('button', { name: 'Play', exact: true }).waitFor();
    await page.keyboard.press('Space');
    await page.waitForFunction(() => document.querySelector('audio')?.paused === false);
    // Shift+→ is the next track; → and ← seek 5 s; Shift+← at the start of a track is the one before.
    await page.keyboard.press('Shift+ArrowRight');
    await nowPlaying().getByText(fourth!.title).waitFor();
    await page.keyboard.press('Space');
    await page.waitForFunction(() => document.querySelector('audio')?.paused === true);
    const at = await audio((a) => a.currentTime);
    await page.keyboard.press('ArrowRight');
    const forward = Math.min(at + 5, fourth!.durationMs / 1000);
    await expect.poll(() => audio((a) => a.currentTime)).toBeCloseTo(forward, 0);
    for (let i = 0; i < 3; i++) await page.keyboard.press('ArrowLeft');
    await expect.poll(() => audio((a) => a.currentTime)).toBe(0);
    await page.keyboard.press('Shift+ArrowLeft');
    await nowPlaying().getByText(third!.title).waitFor();
    await page.waitForFunction(() => document.querySelector('audio')?.paused === false);
    await playerRegion().getByRole('button', { name: 'Mute' }).click();
    expect(await audio((a) => a.muted)).toBe(true);
    await playerRegion().getByRole('button', { name: 'Unmute' }).click();
    expect(await audio((a) => a.muted)).toBe(false);
  });

  it('creates a playlist, adds tracks from a track list, reorders by keyboard and by drag, renames, removes, deletes', {
    timeout: STEP_MS,
  }, async () => {
    const [a, b, c] = album.tracks;
    await go('Playlists');
    await page.getByLabel('Name', { exact: true }).fill('Road trip');
    await page.getByLabel('Public').check();
    await page.getByRole('button', { name: 'Create playlist' }).click();
    await page.getByRole('heading', { name: 'Road trip', level: 1 }).waitFor();
    const playlistId = decodeURIComponent(new URL(page.url()).pathname.split('/').pop()!);
    const owner = api();
    await owner.login();
    const order = async () => {
      const reply = await owner.request<PlaylistDetail>('GET', `/api/playlists/${playlistId}`);
      return reply.body.tracks.map((e) => e.track.id);
    };

    await nowPlaying().click();
    await page.getByRole('heading', { name: album.title, level: 1 }).waitFor();
    for (const t of [a!, b!, c!]) {
      await page.getByRole('button', { name: `More actions for ${t.title}` }).click();
      await page.getByRole('dialog').getByRole('button', { name: 'Add to Road trip' }).click();
      await page.getByRole('status').getByText(`Added ${t.title} to Road trip`).waitFor();
    }
    await expect.poll(order, { timeout: WAIT_MS }).toEqual([a!.id, b!.id, c!.id]);

    await go('Playlists');
    await page.getByRole('link', { name: 'Road trip' }).click();
    await page.getByRole('heading', { name: 'Road trip', level: 1 }).waitFor();
    const rows = page.locator('main ol.tracks > li');
    await expect.poll(() => rows.count()).toBe(3);

    // Keyboard: the first row's handle, arrow down.
    await page.getByRole('button', { name: `Move ${a!.title}, position 1 of 3` }).focus();
    await page.keyboard.press('ArrowDown');
    await page.getByRole('status').getByText(`Moved ${a!.title} to position 2 of 3`).waitFor();
    await expect.poll(order, { timeout: WAIT_MS }).toEqual([b!.id, a!.id, c!.id]);
    // Focus stays on the row that moved, so pressing again moves it on.
    await expect
      .poll(() => page.evaluate(() => document.activeElement?.getAttribute('aria-label')))
      .toBe(`Move ${a!.title}, position 2 of 3`);

    // Drag: the last row onto the first.
    await trackRow(page.locator('main'), c!.title).dragTo(trackRow(page.locator('main'), b!.title));
    await expect.poll(order, { timeout: WAIT_MS }).toEqual([c!.id, b!.id, a!.id]);
    await expect.poll(() => rows.locator('.title').allInnerTexts()).toEqual([c!.title, b!.title, a!.title]);
    await shot('playlist');

    await page.getByRole('button', { name: 'Rename' }).click();
    await page.getByLabel('New name').fill('Road trip mix');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('heading', { name: 'Road trip mix', level: 1 }).waitFor();
    await page.getByLabel('Public').uncheck();
    await page.getByText('Private playlist').waitFor();
    await page.getByRole('button', { name: `Remove ${b!.title} from Road trip mix` }).click();
    await expect.poll(order, { timeout: WAIT_MS }).toEqual([c!.id, a!.id]);
    const saved = await api().request<PlaylistDetail>('GET', `/api/playlists/${playlistId}`, { token: null });
    // Private now: to anybody else it does not exist.
    expect(saved.status).toBe(404);

    await page.getByRole('button', { name: 'Delete playlist' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete', exact: true }).click();
    await page.getByRole('heading', { name: 'Playlists', level: 1 }).waitFor();
    await expect.poll(async () => (await order().catch(() => null)) ?? 'gone').toBe('gone');
  });

  it('makes a smart playlist from rules, shows what they pick read-only, edits its rules, imports a .nsp file', {
    timeout: STEP_MS,
  }, async () => {
    const owner = api();
    await owner.login();
    const all = (await owner.request<{ items: Track[] }>('GET', '/api/tracks?limit=500')).body.items;
    const blue = all.filter((t) => t.title.toLowerCase().includes('blue'));
    expect(blue.length).toBeGreaterThan(0);

    await go('Playlists');
    await page.getByLabel('Smart playlist name').fill('Blue ones');
    await page.getByLabel('Rule 1: field').selectOption('title');
    await page.getByLabel('Rule 1: operator').selectOption('contains');
    await page.getByLabel('Rule 1: value').fill('BLUE');
    await page.getByRole('button', { name: 'Create smart playlist' }).click();
    await page.getByRole('heading', { name: 'Blue ones', level: 1 }).waitFor();
    await page.getByText('Private smart playlist').waitFor();
    const id = decodeURIComponent(new URL(page.url()).pathname.split('/').pop()!);
    const rows = page.locator('main ol.tracks > li');
    await expect.poll(() => rows.count()).toBe(blue.length);
    expect((await rows.locator('.title').allInnerTexts()).sort()).toEqual(blue.map((t) => t.title).sort());
    // Read-only: no handles, no remove buttons.
    await expect(page.getByRole('button', { name: /^Move / }).count()).resolves.toBe(0);
    await expect(page.getByRole('button', { name: /^Remove .* from Blue ones$/ }).count()).resolves.toBe(0);
    await shot('smart-playlist');

    // Another rule, matched with the first: only the blue tracks of the first one's album.
    const first = blue[0]!;
    await page.getByRole('button', { name: 'Edit rules' }).click();
    await page.getByRole('button', { name: 'Add a rule' }).click();
    await page.getByLabel('Rule 2: field').selectOption('album');
    await page.getByLabel('Rule 2: value').fill(first.albumTitle);
    await page.getByRole('button', { name: 'Save rules' }).click();
    await page.getByRole('status').getByText('Saved the rules of Blue ones').waitFor();
    const narrowed = blue.filter((t) => t.albumTitle.toLowerCase() === first.albumTitle.toLowerCase());
    await expect.poll(() => rows.count()).toBe(narrowed.length);
    const saved = await owner.request<PlaylistDetail>('GET', `/api/playlists/${id}`);
    expect(saved.body.tracks.map((e) => e.track.id).sort()).toEqual(narrowed.map((t) => t.id).sort());

    // A Navidrome file: refused when a field has no counterpart, made when they all map.
    await go('Playlists');
    const nsp = (rules: unknown) => ({
      name: 'from-navidrome.nsp',
      mimeType: 'application/json',
      buffer: Buffer.from(JSON.stringify(rules)),
    });
    const input = page.getByLabel('Or import a Navidrome .nsp file');
    await input.setInputFiles(nsp({ name: 'Fast', all: [{ gt: { bpm: 140 } }] }));
    await page
      .getByRole('alert')
      .getByText(/field "bpm" has no counterpart/)
      .waitFor();
    await input.setInputFiles(nsp({ name: 'Blue by Navidrome', all: [{ contains: { title: 'blue' } }] }));
    await page.getByRole('heading', { name: 'Blue by Navidrome', level: 1 }).waitFor();
    await expect.poll(() => rows.count()).toBe(blue.length);
    await page.getByRole('button', { name: 'Delete playlist' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete', exact: true }).click();
    await page.getByRole('heading', { name: 'Playlists', level: 1 }).waitFor();
    await owner.request('DELETE', `/api/playlists/${id}`);
  });

  it('shows a playlist made from an .m3u8 file read-only, with its entries not found, and exports it', {
    timeout: STEP_MS,
  }, async () => {
    const owner = api();
    await owner.login();
    const me = (await owner.request<{ id: string }>('GET', '/api/me')).body;
    const folder = await mkdtemp(join(tmpdir(), 'music-web-m3u-'));
    const catalogDb = createPool({ url: system.databaseUrl, schema: 'catalog', max: 2 });
    try {
      await mkdir(join(folder, 'Listed'), { recursive: true });
      await run('ffmpeg', [
        ...['-nostdin', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'sine=frequency=330:duration=5'],
        ...['-metadata', 'title=Listed Tone', '-metadata', 'artist=List Artist', '-metadata', 'album=Listed'],
        join(folder, 'Listed', '01 Listed Tone.mp3'),
      ]);
      await writeFile(
        join(folder, 'Web mix.m3u8'),
        '#EXTM3U\nListed/01 Listed Tone.mp3\nListed/02 Gone.mp3\n',
      );
      // The folder goes to library 1 (no library holds it); its owner owns its playlist files.
      await catalogDb.query('UPDATE libraries SET owner_id = $1 WHERE id = 1', [me.id]);
      expect(await importFolder(catalogDb, folder)).toMatchObject({
        playlists: { published: 1, removed: 0 },
      });
      const listed = async () =>
        (await owner.request<Array<{ id: string; name: string }>>('GET', '/api/playlists')).body.find(
          (p) => p.name === 'Web mix',
        );
      const made = await expect.poll(listed, { timeout: WAIT_MS }).toBeTruthy().then(listed);

      await go('History');
      await go('Playlists');
      await page.getByRole('link', { name: 'Web mix', exact: true }).click();
      await page.getByRole('heading', { name: 'Web mix', level: 1 }).waitFor();
      expect(decodeURIComponent(new URL(page.url()).pathname.split('/').pop()!)).toBe(made!.id);
      await page.getByText('Private file playlist').waitFor();
      await page.getByText('Web mix.m3u8', { exact: true }).waitFor();
      await page.getByText('1 entry of the file not found').click();
      await page.getByText('line 3:').waitFor();
      await expect(page.getByRole('button', { name: 'Rename' }).count()).resolves.toBe(0);
      await expect(page.getByRole('button', { name: 'Delete playlist' }).count()).resolves.toBe(0);
      await expect(page.getByRole('button', { name: /^Move / }).count()).resolves.toBe(0);
      await expect.poll(() => page.locator('main ol.tracks > li').count()).toBe(1);
      await shot('file-playlist');

      const downloading = page.waitForEvent('download');
      await page.getByRole('button', { name: 'Export .m3u8' }).click();
      const download = await downloading;
      expect(download.suggestedFilename()).toBe('Web mix.m3u8');
      const text = await readFile((await download.path())!, 'utf8');
      expect(text).toMatch(/^#EXTM3U\n#PLAYLIST:Web mix\n#EXTINF:5,List Artist - Listed Tone\n/);
      // Library 1 has no folder here: the file's last three path parts, never the server's path.
      expect(text.trimEnd().split('\n').at(-1)).toBe(`${folder.split('/').at(-1)}/Listed/01 Listed Tone.mp3`);

      // The file gone, the playlist goes.
      await unlink(join(folder, 'Web mix.m3u8'));
      expect(await importFolder(catalogDb, folder)).toMatchObject({
        playlists: { published: 0, removed: 1 },
      });
      await expect.poll(listed, { timeout: WAIT_MS }).toBeUndefined();
      // Back to where the next steps expect to be: the album, from its second track.
      await page.goto(`${system.baseUrl}/albums/${encodeURIComponent(album.id)}`);
      await page.getByRole('button', { name: `Play ${album.tracks[1]!.title}`, exact: true }).click();
      await nowPlaying().getByText(album.tracks[1]!.title).waitFor();
    } finally {
      await catalogDb.query('UPDATE libraries SET owner_id = NULL WHERE id = 1').catch(() => {});
      await catalogDb.end();
      cleanups.push(() => rm(folder, { recursive: true, force: true }));
    }
  });

  it('shows the play in history, and home lists update without a reload', { timeout: STEP_MS }, async () => {
    const [first] = album.tracks;
    await expect.poll(historyIds, { timeout: WAIT_MS }).toContain(first!.id);
    await go('History');
    await page.getByRole('main').getByText(first!.title, { exact: true }).first().waitFor();
    await shot('history');

    // The listening report (this year, then this month) ranks what was played.
    await go('Report');
    await page.getByRole('heading', { name: 'Your listening report', level: 1 }).waitFor();
    const topTracks = page.getByRole('region', { name: 'Top tracks' });
    await topTracks.getByText(first!.title, { exact: false }).first().waitFor({ timeout: WAIT_MS });
    await page.getByLabel('Month').selectOption(String(new Date().getUTCMonth() + 1));
    await topTracks.getByText(first!.title, { exact: false }).first().waitFor({ timeout: WAIT_MS });
    await shot('report');

    await go('Home');
    await page.getByRole('heading', { name: 'Home', level: 1 }).waitFor();
    await page.evaluate(() => {
      window.notReloaded = true;
    });
    // Lists ask again with If-None-Match: unchanged answers are 304s.
    await page.waitForResponse((r) => r.url().includes('/api/me/history') && r.status() === 304, {
      timeout: WAIT_MS,
    });
    // A track that ends now shows up in "Recently played" and "Most played" by itself.
    const playing = (await nowPlaying().innerText()).trim();
    await seekNearEnd(1);
    const recent = page.locator('section', { has: page.getByRole('heading', { name: 'Recently played' }) });
    await trackRow(recent, playing).first().waitFor({ timeout: WAIT_MS });
    const top = page.locator('section', { has: page.getByRole('heading', { name: 'Most played' }) });
    await trackRow(top, playing).first().waitFor({ timeout: WAIT_MS });
    expect(await page.evaluate(() => window.notReloaded)).toBe(true);
    await page.locator('main .loading').first().waitFor({ state: 'detached' });
    await shot('home');
    if (process.env.WEB_DOC_SCREENSHOTS === '1') {
      await mkdir(DOC_IMAGES, { recursive: true });
      await page.setViewportSize({ width: 1000, height: 640 });
      await page.evaluate(() => document.activeElement?.blur?.());
      await page.screenshot({ path: join(DOC_IMAGES, 'web-home.png') });
      await nowPlaying().click();
      await page.getByRole('heading', { level: 1 }).waitFor();
      await page.screenshot({ path: join(DOC_IMAGES, 'web-album.png') });
      await page.setViewportSize({ width: 1200, height: 800 });
      await go('Home');
    }
  });

  it('shows the banner while the gateway cannot reach the broker, keeps the play meanwhile, and sends it after', {
    timeout: STEP_MS,
  }, async () => {
    await page.getByRole('heading', { name: 'Home', level: 1 }).waitFor();
    const playing = (await nowPlaying().innerText()).trim();
    const track = album.tracks.find((t) => t.title === playing)!;
    const before = (await historyIds()).filter((id) => id === track.id).length;
    // Paused 2 s before the end, with the rest of the audio loaded while the gateway still streams it.
    await playerRegion().getByRole('button', { name: 'Pause', exact: true }).click();
    await seekNearEnd(2);
    await page.waitForFunction(() => {
      const a = document.querySelector('audio');
      return (
        a !== null && a.buffered.length > 0 && a.buffered.end(a.buffered.length - 1) >= a.duration - 0.05
      );
    });
    await system.amqpProxy.cut();
    try {
      // Live lists get 503s: the banner says so, and they keep asking.
      const banner = page.getByRole('alert').filter({ hasText: 'not answering' });
      await banner.waitFor({ timeout: WAIT_MS });
      await shot('banner');
      await playerRegion().getByRole('button', { name: 'Play', exact: true }).click();
      // The ended track's play cannot be sent: it waits in local storage.
      await expect.poll(keptPlays, { timeout: WAIT_MS }).toBe(1);
      await system.amqpProxy.restore();
      await system.waitHealthy();
      await banner.waitFor({ state: 'detached', timeout: WAIT_MS });
      await expect.poll(keptPlays, { timeout: 60_000 }).toBe(0);
      await expect
        .poll(async () => (await historyIds()).filter((id) => id === track.id).length, { timeout: WAIT_MS })
        .toBe(before + 1);
      // The next track, which could not load while the gateway was cut off, plays once it is back.
      await page.waitForFunction(() => {
        const a = document.querySelector('audio');
        return a !== null && !a.paused && a.currentTime > 0.3;
      });
    } finally {
      await system.amqpProxy.restore();
    }
  });

  it('has a name for every control, and fits a phone and 200 % zoom', { timeout: STEP_MS }, async () => {
    const unnamed = () =>
      page.evaluate(() => {
        const nameOf = (el: PageElement): string => {
          const labelled = el.getAttribute('aria-labelledby');
          const byId = labelled
            ? labelled
                .split(/\s+/)
                .map((id: string) => document.getElementById(id)?.textContent ?? '')
                .join(' ')
            : '';
          const labels = Array.from(el.labels ?? [], (l) => l.textContent);
          const imgs = Array.from(el.querySelectorAll('img[alt]'), (i) => i.getAttribute('alt'));
          return [
            el.getAttribute('aria-label'),
            byId,
            ...labels,
            el.textContent,
            ...imgs,
            el.getAttribute('title'),
          ]
            .join(' ')
            .trim();
        };
        const controls = document.querySelectorAll(
          'button, a[href], input, select, textarea, [role="button"]',
        );
        return Array.from(controls)
          .filter((el) => !el.closest('[hidden], dialog:not([open])') && nameOf(el) === '')
          .map((el) => el.outerHTML.slice(0, 120));
      });
    const overflow = () => page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    const pages: Array<[string, string]> = [
      ['Home', 'Home'],
      ['Search', 'Search'],
      ['Artists', 'Artists'],
      ['Playlists', 'Playlists'],
      ['History', 'History'],
      ['Report', 'Your listening report'],
    ];
    await playerRegion().getByRole('button', { name: 'Queue' }).click();
    for (const [link, heading] of pages) {
      await go(link);
      await page.getByRole('heading', { name: heading, level: 1 }).waitFor();
      expect(await unnamed(), `controls without a name on ${heading}`).toEqual([]);
    }
    await playerRegion().getByRole('button', { name: 'Close the queue' }).click();

    // A phone (360 px), and a 1280 x 800 window at 200 % zoom (640 x 400 CSS pixels).
    for (const [label, size] of [
      ['phone', { width: 360, height: 740 }],
      ['zoom200', { width: 640, height: 400 }],
    ] as const) {
      await page.setViewportSize(size);
      await go('Home');
      await page.getByRole('heading', { name: 'Home', level: 1 }).waitFor();
      await page.locator('main .loading').first().waitFor({ state: 'detached' });
      expect(await overflow(), `horizontal scrolling on home (${label})`).toBeLessThanOrEqual(0);
      await shot(`${label}-home`);
      await nowPlaying().click();
      await page.getByRole('heading', { name: album.title, level: 1 }).waitFor();
      expect(await overflow(), `horizontal scrolling on the album (${label})`).toBeLessThanOrEqual(0);
      await expect
        .poll(() =>
          playerRegion()
            .getByRole('button', { name: /^(Play|Pause)$/ })
            .isVisible(),
        )
        .toBe(true);
      await shot(`${label}-album`);
    }
    await page.setViewportSize({ width: 1200, height: 800 });
  });

  it('shows a playlist entry whose file left the library as unavailable, and plays the others', {
    timeout: STEP_MS,
  }, async () => {
    const [x, y] = album.tracks.slice(3, 5);
    const owner = api();
    await owner.login();
    const created = await owner.request<PlaylistDetail>('POST', '/api/playlists', {
      json: { name: 'Thinned out', trackIds: [y!.id, x!.id] },
    });
    expect(created.status).toBe(201);
    // y's file leaves the library, as an import that finds it gone removes it.
    const catalogDb = createPool({ url: system.databaseUrl, schema: 'catalog', max: 1 });
    try {
      await withTransaction(catalogDb, (db) => removeTracks(db, [y!.id]));
    } finally {
      await catalogDb.end();
    }
    await go('Playlists');
    await page.getByRole('link', { name: 'Thinned out' }).click();
    await page.getByRole('heading', { name: 'Thinned out', level: 1 }).waitFor();
    const gone = trackRow(page.locator('main'), y!.title);
    await gone.getByText('unavailable', { exact: true }).waitFor();
    expect(await page.getByRole('button', { name: `${y!.title} is unavailable` }).isDisabled()).toBe(true);
    await shot('playlist-unavailable');
    await page.locator('main').getByRole('button', { name: 'Play', exact: true }).click();
    await expect.poll(() => nowPlaying().innerText(), { timeout: WAIT_MS }).toBe(x!.title);
    expect(errors).toEqual([]);
  });

  it('links ListenBrainz in Settings, and says so when ListenBrainz refuses the token later', {
    timeout: STEP_MS,
  }, async () => {
    const token = 'c0ffee00-0000-4000-8000-00000000000b';
    listenBrainz.lbTokens.set(token, 'demo-at-lb');
    await go('Settings');
    await page.getByRole('heading', { name: 'Settings', level: 1 }).waitFor();
    const field = page.getByLabel(/User token/);
    expect(await field.getAttribute('type')).toBe('password');
    await field.fill('not-a-token');
    await page.getByRole('button', { name: 'Link ListenBrainz', exact: true }).click();
    await page.getByRole('alert').getByText('ListenBrainz refused this token').waitFor();
    await field.fill(token);
    await page.getByRole('button', { name: 'Link ListenBrainz', exact: true }).click();
    await page.getByText('Linked as demo-at-lb.').waitFor();
    await shot('settings-linked');
    // The token is withdrawn at ListenBrainz; the next play is refused there, and the page says so.
    listenBrainz.lbTokens.delete(token);
    const client = api();
    await client.login(DEMO_USERNAME, DEMO_PASSWORD);
    expect((await client.play(album.tracks[0]!.id)).status).toBe(202);
    await page
      .getByRole('alert')
      .getByText(/ListenBrainz refused your token/)
      .waitFor({ timeout: 60_000 });
    await shot('settings-refused');
    const unlink = page.getByRole('button', { name: 'Unlink ListenBrainz' });
    await unlink.click();
    await unlink.waitFor({ state: 'detached' });
    await page.getByRole('button', { name: 'Link ListenBrainz', exact: true }).waitFor();
    expect(listenBrainz.violations).toEqual([]);
    expect(errors).toEqual([]);
  });

  it('logs out: the session is revoked on the gateway and forgotten here, playback stops', {
    timeout: STEP_MS,
  }, async () => {
    const token = await page.evaluate(
      () => JSON.parse(localStorage.getItem('music.session') ?? 'null')?.token,
    );
    expect(token).toBeTruthy();
    const revoke = page.waitForRequest((r) => r.url().endsWith('/api/sessions') && r.method() === 'DELETE');
    await page.getByRole('button', { name: 'Log out' }).click();
    const request = await revoke;
    expect(request.headers().authorization).toBe(`Bearer ${token}`);
    const answer = await request.response();
    expect(answer?.status()).toBe(200);
    // Revoked on the gateway, not only forgotten here: the old token is refused from now on.
    await expect
      .poll(async () => (await api().request('GET', '/api/me', { token })).status, { timeout: WAIT_MS })
      .toBe(401);
    await page.getByRole('heading', { name: 'Log in' }).waitFor();
    expect(await page.evaluate(() => localStorage.getItem('music.session'))).toBeNull();
    expect(await audio((a) => a.paused)).toBe(true);
    expect(errors).toEqual([]);
  });

  it('registers a new listener, who starts with an empty queue; a session the gateway refuses (401) goes back to log in', {
    timeout: STEP_MS,
  }, async () => {
    await page.getByRole('link', { name: 'Create an account' }).click();
    await page.getByRole('heading', { name: 'Create an account' }).waitFor();
    const username = `listener${Date.now().toString(36)}`;
    await page.getByLabel('Username').fill(username);
    await page.getByLabel('Password').fill('listen-1234');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByRole('heading', { name: 'Home', level: 1 }).waitFor();
    await page.getByText(username, { exact: true }).waitFor();
    await playerRegion().getByText('Nothing playing').waitFor();

    // The token no longer works (revoked, expired): the next answer is a 401, and the page asks to log in again.
    await page.evaluate(() => {
      const saved = JSON.parse(localStorage.getItem('music.session') ?? '{}') as Record<string, unknown>;
      localStorage.setItem('music.session', JSON.stringify({ ...saved, token: 'not-a-valid-token' }));
    });
    await page.reload();
    await page.getByRole('heading', { name: 'Log in' }).waitFor();
    await page.waitForURL((url) => url.pathname === '/login');
    expect(await page.evaluate(() => localStorage.getItem('music.session'))).toBeNull();
    expect(errors).toEqual([]);
  });

  it('lists albums and tracks a page at a time: "Show more" reads the next page, a new order starts again', {
    timeout: STEP_MS,
  }, async () => {
    // 110 more albums (1,100 tracks, no audio) than the seed, over the generator's libraries,
    // every one granted to the demo user: more than one page of each list.
    const demo = api();
    await demo.login();
    const pool = createPool({ url: system.databaseUrl, schema: 'public', max: 1 });
    try {
      await loadCatalog(pool, 'catalog', { from: 0, to: 1100 }, new Set());
      await grantLibraries(pool, 'catalog', demo.userId!, [2, 3, 4, 5]);
    } finally {
      await pool.end();
    }
    const total = async (path: string) => (await demo.request<{ total: number }>('GET', path)).body.total;
    // A catalog worker keeps a user's libraries for a few seconds.
    await expect.poll(() => total('/api/albums?limit=1'), { timeout: WAIT_MS }).toBeGreaterThan(110);
    const totals = await total('/api/albums?limit=1');
    const trackTotal = await total('/api/tracks?limit=1');

    await page.goto(`${system.baseUrl}/login`);
    await page.getByLabel('Username').fill(DEMO_USERNAME);
    await page.getByLabel('Password').fill(DEMO_PASSWORD);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { name: 'Home', level: 1 }).waitFor();

    const main = page.getByRole('main');
    const cards = main.locator('ul.cards > li');
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Albums' }).click();
    await page.getByRole('heading', { name: 'Albums', level: 1 }).waitFor();
    await expect.poll(() => cards.count(), { timeout: WAIT_MS }).toBe(100);
    await main.getByRole('button', { name: `Show more (100 of ${totals} shown)` }).click();
    await expect.poll(() => cards.count(), { timeout: WAIT_MS }).toBe(Math.min(200, totals));
    // A page never repeats an album of the one before it.
    const titles = await cards
      .locator('a')
      .evaluateAll((links) => links.map((l) => (l as unknown as PageElement).getAttribute('href')));
    expect(new Set(titles).size).toBe(titles.length);
    // Another order starts from its first page.
    await main.getByRole('button', { name: 'Newest' }).click();
    await expect.poll(() => cards.count(), { timeout: WAIT_MS }).toBe(100);

    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Tracks' }).click();
    await page.getByRole('heading', { name: 'Tracks', level: 1 }).waitFor();
    const rows = main.locator('ol.tracks > li');
    await expect.poll(() => rows.count(), { timeout: WAIT_MS }).toBe(200);
    await main.getByRole('button', { name: `Show more (200 of ${trackTotal} shown)` }).click();
    await expect.poll(() => rows.count(), { timeout: WAIT_MS }).toBe(Math.min(400, trackTotal));
    expect(errors).toEqual([]);
  });
});
