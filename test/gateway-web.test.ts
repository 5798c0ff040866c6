/** How the gateway serves the web player's files (gateway/web.ts), with a build and without one. */

import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { webPlayer } from '../gateway/web.js';

const INDEX =
  '<!doctype html><div id="app"></div><script type="module" src="/assets/index-abc123.js"></script>';

async function serve(dir: string): Promise<{ url: string; server: Server }> {
  const app = express();
  app.use(webPlayer({ dir }));
  // What the gateway does after it: anything else is a JSON 404.
  app.use((_req, res) => {
    res.status(404).json({ error: { code: 1404, message: 'no such route' } });
  });
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, server };
}

const SHARE =
  '<!doctype html><div id="app"></div><script type="module" src="/assets/share-abc123.js"></script>';

const page = { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' };

describe('the web player served by the gateway', () => {
  it('serves no source map, even one a build left behind', async () => {
    const r = await fetch(`${built.url}/assets/index-abc123.js.map`);
    expect(r.status).toBe(404);
    expect(await r.text()).not.toContain('sources');
    expect((await fetch(`${built.url}/assets/index-abc123.js`)).status).toBe(200);
  });

  let dir: string;
  let built: { url: string; server: Server };
  let missing: { url: string; server: Server };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'web-dist-'));
    await mkdir(join(dir, 'assets'));
    await writeFile(join(dir, 'index.html'), INDEX);
    await writeFile(join(dir, 'share.html'), SHARE);
    await writeFile(join(dir, 'assets', 'index-abc123.js'), 'console.log(1)');
    await writeFile(join(dir, 'assets', 'index-abc123.js.map'), '{"version":3,"sources":["main.tsx"]}');
    await writeFile(join(dir, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
    built = await serve(dir);
    missing = await serve(join(dir, 'no-such-build'));
  });

  afterAll(async () => {
    for (const s of [built, missing]) await new Promise((resolve) => s?.server.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  it("answers a share link's address with the share page, under the same rules", async () => {
    const res = await fetch(`${built.url}/s/${'A'.repeat(43)}`, { headers: page });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(SHARE);
    expect(res.headers.get('cache-control')).toBe('no-cache');
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    // Only /s/<token> itself: deeper addresses are the player's, and the link's API is not a page.
    expect(await (await fetch(`${built.url}/s/x/y`, { headers: page })).text()).toBe(INDEX);
    expect((await fetch(`${built.url}/api/shares/${'A'.repeat(43)}`, { headers: page })).status).toBe(404);
  });

  it('serves index.html at / to be revalidated on every load, with its security headers', async () => {
    const res = await fetch(`${built.url}/`, { headers: page });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(INDEX);
    expect(res.headers.get('content-type')).toContain('text/html');
    expect(res.headers.get('cache-control')).toBe('no-cache');
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    const etag = res.headers.get('etag')!;
    // (fetch adds Cache-Control: no-cache to a conditional request unless it has one.)
    const again = await fetch(`${built.url}/`, {
      headers: { ...page, 'if-none-match': etag, 'cache-control': 'max-age=0' },
    });
    expect(again.status).toBe(304);
    const head = await fetch(`${built.url}/`, { method: 'HEAD', headers: page });
    expect(head.status).toBe(200);
    // The file itself, asked for by name, is the same page with the same headers.
    const byName = await fetch(`${built.url}/index.html`);
    expect(byName.headers.get('cache-control')).toBe('no-cache');
    expect(byName.headers.get('content-security-policy')).toContain("default-src 'self'");
  });

  it('serves hashed assets as immutable for a year, other files as no-cache', async () => {
    const js = await fetch(`${built.url}/assets/index-abc123.js`);
    expect(js.status).toBe(200);
    expect(js.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(js.headers.get('content-type')).toContain('javascript');
    const icon = await fetch(`${built.url}/favicon.svg`);
    expect(icon.status).toBe(200);
    expect(icon.headers.get('cache-control')).toBe('no-cache');
  });

  it('answers the app’s own addresses with index.html, for browsers only', async () => {
    for (const path of ['/albums/al1', '/playlists/p1', '/search?q=blue', '/login']) {
      const res = await fetch(`${built.url}${path}`, { headers: page });
      expect(res.status, path).toBe(200);
      expect(await res.text()).toBe(INDEX);
    }
    // Not a page: a script or an API client asking, another method, a missing asset, the APIs.
    const notPages: Array<[string, RequestInit]> = [
      ['/albums/al1', { headers: { accept: '*/*' } }],
      ['/albums/al1', { headers: { accept: 'application/json' } }],
      ['/albums/al1', { method: 'POST', headers: page }],
      ['/assets/index-gone.js', { headers: page }],
      ['/api/albums/al1', { headers: page }],
      ['/api', { headers: page }],
      ['/rpc', { headers: page }],
      ['/rest/ping.view', { headers: page }],
      ['/health', { headers: page }],
      ['/metrics', { headers: page }],
    ];
    for (const [path, init] of notPages) {
      const res = await fetch(`${built.url}${path}`, init);
      expect(res.status, `${init.method ?? 'GET'} ${path}`).toBe(404);
      expect(res.headers.get('content-type'), path).toContain('application/json');
    }
    // Paths that only begin like an API's are the app's.
    const lookalike = await fetch(`${built.url}/apiary`, { headers: page });
    expect(await lookalike.text()).toBe(INDEX);
  });

  it('says how to build the player when there is no build, and leaves everything else alone', async () => {
    const res = await fetch(`${missing.url}/`, { headers: page });
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toContain('text/html');
    expect(await res.text()).toContain('npm run build');
    const deep = await fetch(`${missing.url}/albums/al1`, { headers: page });
    expect(deep.status).toBe(404);
    const asset = await fetch(`${missing.url}/assets/index-abc123.js`);
    expect(asset.status).toBe(404);
    expect(asset.headers.get('content-type')).toContain('application/json');
  });
});
