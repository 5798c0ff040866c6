import { join } from 'node:path';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { repoPath } from '../common/index.js';

/** Where `npm run build:web` puts the web player. */
export const WEB_DIST = repoPath('web/dist');

/** Paths that belong to the APIs: never answered with the web player's page. */
const NOT_PAGES = /^\/(api|rpc|rest|health|metrics)(\/|$)/;

/** What a share link opens (`/s/<token>`): its own page, which loads nothing of the player's app. */
const SHARE_PAGE = /^\/s\/[^/]+\/?$/;

/**
 * The page's own rules for what it may load and run: scripts, styles, audio and requests from
 * this origin only (no inline script, nothing from elsewhere), covers as data: URLs. A script
 * injected into the page could read the session token (docs/WEB.md), so none may run.
 */
const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "media-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const NOT_BUILT = `<!doctype html>
<html lang="en"><meta charset="utf-8"><title>Web player not built</title>
<h1>The web player is not built</h1>
<p>Run <code>npm run build</code> (or <code>./start.sh</code>, which builds it when needed), then reload this page.</p>
<p>The APIs work meanwhile: <a href="/health">/health</a>, REST under <code>/api</code>.</p>
</html>
`;

function pageHeaders(res: Response): void {
  res.set('Cache-Control', 'no-cache');
  res.set('Content-Security-Policy', CSP);
  res.set('X-Content-Type-Options', 'nosniff');
  res.set('Referrer-Policy', 'same-origin');
}

/** A browser opening a page (an address of the app, typed or reloaded), not a script or an API client. */
function wantsPage(req: Request): boolean {
  return (
    (req.method === 'GET' || req.method === 'HEAD') &&
    !NOT_PAGES.test(req.path) &&
    !req.path.startsWith('/assets/') &&
    (req.get('accept') ?? '').includes('text/html')
  );
}

/**
 * Serves the built web player (web/dist): files under /assets/ have content hashes in their
 * names and are cached for a year as immutable; index.html (and the other unhashed files) are
 * revalidated on every load (`no-cache`, with ETag), so a new build is picked up at once. Any
 * other address a browser opens as a page gets index.html, where the app's router takes over
 * (a share link's `/s/<token>`, share.html).
 * Without a build the gateway still works and such pages say how to build it.
 */
export function webPlayer({ dir = WEB_DIST }: { dir?: string } = {}): Router {
  const router = express.Router();
  const assets = join(dir, 'assets', '/');
  // Source maps are never served, even from a build that made them.
  router.use((req: Request, _res: Response, next: NextFunction) => {
    next(req.path.endsWith('.map') ? 'router' : undefined);
  });
  router.use(
    express.static(dir, {
      index: false,
      redirect: false,
      dotfiles: 'ignore',
      setHeaders(res, path) {
        if (path.startsWith(assets)) res.set('Cache-Control', 'public, max-age=31536000, immutable');
        else if (path.endsWith('.html')) pageHeaders(res);
        else res.set('Cache-Control', 'no-cache');
      },
    }),
  );
  router.use((req: Request, res: Response, next: NextFunction) => {
    if (!wantsPage(req)) return next();
    pageHeaders(res);
    const page = SHARE_PAGE.test(req.path) ? 'share.html' : 'index.html';
    res.sendFile(page, { root: dir, dotfiles: 'deny', lastModified: true, etag: true }, (err) => {
      if (!err) return;
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !res.headersSent) {
        res.status(404).type('html').send(NOT_BUILT);
      } else {
        next(err);
      }
    });
  });
  return router;
}
