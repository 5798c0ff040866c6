/**
 * player: the players at a collector's size. A system of its own gets `CATALOG_TRACKS`
 * (1,000,000) generated tracks with COPY (bench/catalog-data.ts: 20,000 artists over 5
 * libraries, all granted to the demo user), then:
 *
 * - **search as you type** in the web player, in Debian's headless Chromium: each query is typed
 *   key by key (`PLAYER_KEY_DELAY_MS` apart) into the search page, and the page itself records
 *   when the last key arrived, when the search request left (the page waits for a 250 ms pause
 *   in typing first, on purpose) and when its results were on screen. `sent_to_shown_ms` is the
 *   part the system owns (request, gateway, catalog, render); `key_to_shown_ms` adds the pause.
 * - **the gateway's memory** while Subsonic players ask `getArtists` (20,000 artists, one
 *   answer each) from `PLAYER_CONNECTIONS` at once for `PLAYER_DURATION` seconds: its peak
 *   resident memory, sampled every 250 ms, against the 130 MB target.
 */
import { createHash, randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { DEMO_PASSWORD, DEMO_USERNAME } from '../services/users/seed.js';
import { launchChromium } from '../test/support/browser.js';
import { grantLibraries, LIBRARIES, loadCatalog } from './catalog-data.js';
import { note, percentile, round } from './lib.js';
import { BenchSystem, rssMb } from './system.js';

const KEY_DELAY_MS = Number(process.env.PLAYER_KEY_DELAY_MS ?? 80);
const ROUNDS = Number(process.env.PLAYER_SEARCH_ROUNDS ?? 3);
const CONNECTIONS = Number(process.env.PLAYER_CONNECTIONS ?? 8);
const DURATION_S = Number(process.env.PLAYER_DURATION ?? 20);
/** What a search may take from the request to the results on screen, and the gateway's memory. */
const SHOWN_LIMIT_MS = 100;
const GATEWAY_LIMIT_MB = 130;
/** As people type them: whole words, fragments, accents left out, words that match nothing. */
const QUERIES = ['blue', 'midnight riv', 'paper lant', 'zoe ang', 'river', 'lan', 'zqxjv', '100%'];

// What the page runs (addInitScript, waitForFunction), typed here without the DOM library.
interface Timing {
  keys: number[];
  sent: { at: number; url: string }[];
  shown: number[];
}
declare const window: { __timing: Timing };
declare const document: {
  querySelector(
    selector: string,
  ): { getAttribute(name: string): string | null; textContent: string | null } | null;
};
declare const performance: { now(): number };

/**
 * Installed before the player loads: the page's own clock for keys, requests and results. A
 * string, not a function, so the page runs it exactly as written (no transpiler helpers).
 */
const INSTRUMENT = `
  const timing = { keys: [], sent: [], shown: [] };
  window.__timing = timing;
  addEventListener('input', () => timing.keys.push(performance.now()), true);
  const fetch = window.fetch;
  window.fetch = (...args) => {
    const url = String(args[0]);
    if (url.includes('/api/search')) timing.sent.push({ at: performance.now(), url });
    return fetch(...args);
  };
  new MutationObserver(() => {
    const live = document.querySelector('[aria-live="polite"]');
    if (live && live.getAttribute('aria-busy') === 'false' && live.textContent) timing.shown.push(performance.now());
  }).observe(document, { subtree: true, childList: true, attributes: true, characterData: true });
`;

async function searchAsYouType(baseUrl: string): Promise<{ keyToShown: number[]; sentToShown: number[] }> {
  const { context: browser, close } = await launchChromium('bench');
  try {
    const page = browser.pages()[0] ?? (await browser.newPage());
    await page.addInitScript({ content: INSTRUMENT });
    await page.goto(`${baseUrl}/login`);
    await page.getByLabel('Username').fill(DEMO_USERNAME);
    await page.getByLabel('Password').fill(DEMO_PASSWORD);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { name: 'Home', level: 1 }).waitFor();
    await page.goto(`${baseUrl}/search`);
    const input = page.getByLabel('Search artists, albums and tracks');
    await input.waitFor();
    const keyToShown: number[] = [];
    const sentToShown: number[] = [];
    for (let round = 0; round < ROUNDS + 1; round++) {
      for (const query of QUERIES) {
        await input.fill('');
        await page.getByText('Type to search.').waitFor();
        await page.evaluate(() => {
          window.__timing.keys = [];
          window.__timing.sent = [];
          window.__timing.shown = [];
        });
        await input.pressSequentially(query, { delay: KEY_DELAY_MS });
        const q = new URLSearchParams({ q: query }).toString();
        // Results of this query on screen: shown after the request that asked for it left.
        const handle = await page.waitForFunction(
          (wanted) => {
            const t = window.__timing;
            const sent = t.sent.filter((s) => s.url.includes(`${wanted}&`) || s.url.endsWith(wanted)).at(-1);
            const shown = sent && t.shown.find((at) => at > sent.at);
            return sent && shown ? { lastKey: t.keys.at(-1)!, sent: sent.at, shown } : null;
          },
          q,
          { timeout: 30_000 },
        );
        const t = (await handle.jsonValue()) as { lastKey: number; sent: number; shown: number };
        // The first round warms the page, the gateway and the database's caches.
        if (round === 0) continue;
        keyToShown.push(t.shown - t.lastKey);
        sentToShown.push(t.shown - t.sent);
        note(
          `  "${query}": sent to shown ${(t.shown - t.sent).toFixed(1)} ms, key to shown ${(t.shown - t.lastKey).toFixed(1)} ms`,
        );
      }
    }
    return { keyToShown, sentToShown };
  } finally {
    await close();
  }
}

/** The gateway's peak memory while Subsonic players fetch every artist at once. */
async function gatewayUnderGetArtists(
  system: BenchSystem,
): Promise<{ peakMb: number; idleMb: number; calls: number; artists: number }> {
  const gateway = system.pids().get('gateway');
  if (!gateway) throw new Error('no gateway pid');
  const salt = randomBytes(6).toString('hex');
  const token = createHash('md5')
    .update(DEMO_PASSWORD + salt)
    .digest('hex');
  const url = `${system.baseUrl}/rest/getArtists?u=${DEMO_USERNAME}&t=${token}&s=${salt}&v=1.16.1&c=bench&f=json`;
  const first = (await (await fetch(url)).json()) as {
    'subsonic-response': { artists: { index: { artist: unknown[] }[] } };
  };
  const artists = first['subsonic-response'].artists.index.reduce((n, i) => n + i.artist.length, 0);
  await new Promise((r) => setTimeout(r, 2000));
  const idleMb = rssMb(gateway) ?? Number.NaN;
  let peakMb = idleMb;
  const sampler = setInterval(() => {
    peakMb = Math.max(peakMb, rssMb(gateway) ?? 0);
  }, 250);
  const until = performance.now() + DURATION_S * 1000;
  let calls = 0;
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (performance.now() < until) {
        const res = await fetch(url);
        await res.arrayBuffer();
        if (res.status !== 200) throw new Error(`getArtists: ${res.status}`);
        calls++;
      }
    }),
  );
  clearInterval(sampler);
  return { peakMb: round(peakMb, 1), idleMb: round(idleMb, 1), calls, artists };
}

export async function runPlayerBench(): Promise<Record<string, unknown>> {
  const n = Number(process.env.CATALOG_TRACKS ?? 1_000_000);
  if (!Number.isInteger(n) || n < 1000) throw new Error('CATALOG_TRACKS must be an integer of at least 1000');
  const loadStart = loadavg()[0]!;
  const system = await BenchSystem.start({ label: 'player' });
  try {
    note(`loading ${n} tracks`);
    const loadS = await loadCatalog(system.db, 'catalog', { from: 0, to: n }, new Set());
    const { rows } = await system.db.query<{ id: string }>('SELECT id FROM users.users WHERE username = $1', [
      DEMO_USERNAME,
    ]);
    await grantLibraries(
      system.db,
      'catalog',
      rows[0]!.id,
      Array.from({ length: LIBRARIES - 1 }, (_, i) => i + 2),
    );
    const { rows: counted } = await system.db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM catalog.artists',
    );
    note(`search as you type in Chromium, ${ROUNDS} rounds of ${QUERIES.length} queries`);
    const typed = await searchAsYouType(system.baseUrl);
    note(`getArtists from ${CONNECTIONS} players for ${DURATION_S} s`);
    const memory = await gatewayUnderGetArtists(system);
    const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
    const [shown, key] = [sorted(typed.sentToShown), sorted(typed.keyToShown)];
    const result = {
      bench: 'player',
      tracks: n,
      load_s: round(loadS, 1),
      searches: shown.length,
      key_delay_ms: KEY_DELAY_MS,
      sent_to_shown_ms: {
        p50: round(percentile(shown, 50)),
        p99: round(percentile(shown, 99)),
        max: round(shown.at(-1)!),
      },
      key_to_shown_ms: { p50: round(percentile(key, 50)), p99: round(percentile(key, 99)) },
      search_ok: percentile(shown, 99) < SHOWN_LIMIT_MS,
      get_artists: {
        artists: memory.artists,
        in_catalog: counted[0]!.n,
        calls: memory.calls,
        connections: CONNECTIONS,
        seconds: DURATION_S,
      },
      // Players sync their artist list from getArtists: it must hold every artist.
      get_artists_whole: memory.artists === counted[0]!.n,
      gateway_mb: { idle: memory.idleMb, peak: memory.peakMb },
      gateway_ok: memory.peakMb < GATEWAY_LIMIT_MB,
      loadavg: { start: round(loadStart), end: round(loadavg()[0]!) },
    };
    return result;
  } catch (err) {
    note(await system.logTails());
    throw err;
  } finally {
    await system.stop();
  }
}
