/**
 * Share links in a real browser (Debian's Chromium through playwright-core, as
 * test/web.test.ts): the owner shares an album from the web player and finds it under Shares;
 * the link, opened in a browser with no session at all, plays (currentTime advances) through
 * the link's own endpoints and reports the play; a deleted or expired link shows "This link
 * has expired". The real catalog, users and playlists services and a gateway serving the
 * built player (test/support/subsonic-harness.ts).
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Album, catalogContract, type Track } from '../common/contracts/catalog.js';
import type { TrackPlayed } from '../common/contracts/events.js';
import type { Share } from '../common/contracts/shares.js';
import { usersContract } from '../common/contracts/users.js';
import { shareListener } from '../gateway/routes/shares.js';
import { assertChromium, CHROMIUM } from './support/browser.js';
import { sleep } from './support/env.js';
import { type SubsonicHarness, startSubsonic } from './support/subsonic-harness.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const WAIT_MS = 30_000;
const run = promisify(execFile);

interface PageAudio {
  currentTime: number;
  duration: number;
  src: string;
  paused: boolean;
}
declare const document: { querySelector(selector: 'audio'): PageAudio | null };
declare const localStorage: { length: number };

describe('share links in headless Chromium', () => {
  let h: SubsonicHarness;
  let browser: Browser;
  let origin: string;
  let album: Album & { tracks: Track[] };
  let bearer: string;
  let username: string;
  const password = 'share-web-password';
  const errors: string[] = [];

  const rest = async <T>(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: T }> => {
    const res = await fetch(`${origin}${path}`, {
      method,
      headers: { authorization: `Bearer ${bearer}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, body: (await res.json()) as T };
  };

  /** A page in a browser context of its own: no session, nothing stored. */
  const freshPage = async (): Promise<Page> => {
    const context = await browser.newContext({ viewport: { width: 1000, height: 800 } });
    const page = await context.newPage();
    page.setDefaultTimeout(WAIT_MS);
    page.on('pageerror', (err) => errors.push(err.message));
    page.on('console', (msg) => {
      if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource'))
        errors.push(msg.text());
    });
    return page;
  };

  beforeAll(async () => {
    assertChromium();
    await run(join(ROOT, 'scripts', 'build.sh'), ['web'], { cwd: ROOT, timeout: 300_000 });
    h = await startSubsonic();
    origin = h.url.replace(/\/rest$/, '');
    const catalog = h.rpc.bind(catalogContract);
    const users = h.rpc.bind(usersContract);
    for (const a of (await catalog.call('listAlbums', { sort: 'alphabetical', limit: 50 })).items) {
      const full = await catalog.call('getAlbum', { id: a.id });
      if (full.tracks.length >= 2) {
        album = full;
        break;
      }
    }
    username = `sharer_${Math.random().toString(36).slice(2, 8)}`;
    await users.call('register', { username, password });
    bearer = (await users.call('login', { username, password })).token;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--autoplay-policy=no-user-gesture-required'],
      timeout: 60_000,
    });
  }, 300_000);

  afterAll(async () => {
    await browser?.close().catch(() => {});
    await h?.close();
  }, 120_000);

  it('the owner shares an album from its page and finds the link under Shares', {
    timeout: 120_000,
  }, async () => {
    const page = await freshPage();
    await page.goto(`${origin}/login`);
    await page.getByLabel('Username').fill(username);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('navigation', { name: 'Main' }).waitFor();
    await page.goto(`${origin}/albums/${album.id}`);
    await page.getByRole('button', { name: 'Share' }).click();
    const form = page.getByRole('form', { name: `Share ${album.title}` });
    await form.getByLabel('Description').fill('listen to this');
    await form.getByRole('button', { name: 'Create link' }).click();
    const link = await page.getByLabel(`Link to ${album.title}`).inputValue();
    expect(link).toMatch(new RegExp(`^${origin}/s/[A-Za-z0-9_-]{43}$`));

    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Shares' }).click();
    const row = page.getByRole('list', { name: 'Your share links' }).getByRole('listitem');
    await expect.poll(() => row.count()).toBe(1);
    expect(await row.getByRole('textbox').inputValue()).toBe(link);
    await expect.poll(() => row.textContent()).toContain('listen to this');
    await page.context().close();
    expect(errors).toEqual([]);
  });

  it('opened without an account, the link plays its album and reports the play', {
    timeout: 120_000,
  }, async () => {
    const share = (await rest<Share>('POST', '/api/me/shares', { kind: 'album', id: album.id })).body;
    const page = await freshPage();
    await page.goto(`${origin}${share.path}`);
    await page.getByRole('heading', { name: album.title }).waitFor();
    const rows = page.getByRole('list', { name: 'Shared tracks' }).getByRole('listitem');
    expect(await rows.count()).toBe(album.tracks.length);
    await page.getByRole('button', { name: 'Play', exact: true }).click();
    const audio = <T>(read: (a: PageAudio) => T): Promise<T> =>
      page.locator('audio').evaluate(read as (a: unknown) => T);
    await page.waitForFunction(() => (document.querySelector('audio')?.currentTime ?? 0) > 0.5);
    const t1 = await audio((a) => a.currentTime);
    await page.waitForFunction((t) => (document.querySelector('audio')?.currentTime ?? 0) > t + 0.5, t1);
    expect(await audio((a) => a.src)).toBe(
      `${origin}/api/shares/${share.token}/tracks/${album.tracks[0]!.id}/stream`,
    );
    // Nothing was stored that would let this browser act as anyone.
    expect(await page.evaluate(() => localStorage.length)).toBe(0);

    // To its end: the play is reported to the link, as a play of the track by no user.
    await page.locator('audio').evaluate((a: unknown) => {
      const el = a as PageAudio;
      el.currentTime = Math.max(0, el.duration - 1.5);
    });
    const played = await h.tap.waitFor<TrackPlayed>(
      (e) => e.data.userId === shareListener(share.id) && e.data.trackId === album.tracks[0]!.id,
      20_000,
    );
    expect(played.data.source).toBe('share');
    // The next track of the album follows.
    await expect.poll(() => audio((a) => a.src), { timeout: WAIT_MS }).toContain(album.tracks[1]!.id);

    // Deleted while open: the page says so on its next load.
    expect((await rest('DELETE', `/api/me/shares/${share.id}`)).status).toBe(200);
    await page.reload();
    await page.getByRole('heading', { name: 'This link has expired' }).waitFor();
    await page.context().close();
    expect(errors).toEqual([]);
  });

  it('an expired link shows "This link has expired"', { timeout: 60_000 }, async () => {
    const expiresAt = new Date(Date.now() + 1500).toISOString();
    const share = (
      await rest<Share>('POST', '/api/me/shares', { kind: 'track', id: album.tracks[0]!.id, expiresAt })
    ).body;
    await sleep(Math.max(0, Date.parse(expiresAt) - Date.now()) + 100);
    const page = await freshPage();
    await page.goto(`${origin}${share.path}`);
    await page.getByRole('heading', { name: 'This link has expired' }).waitFor();
    expect(await page.title()).toBe('This link has expired');
    await page.context().close();
    expect(errors).toEqual([]);
  });
});
