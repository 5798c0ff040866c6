import type { NextFunction, Request, Response } from 'express';
import { ErrorCodes } from '../common/index.js';
import { HttpError } from './errors.js';

/** Methods that change nothing: a foreign page may send them (it cannot read the answer). */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Why a request is refused as cross-site, or undefined when it is not: its `Origin` (which
 * browsers send on every cross-origin request that may change something) names neither this
 * gateway's own origin (the host the browser asked for, `X-Forwarded-Host` where TRUST_PROXY
 * believes it) nor one of `allowed` (ALLOWED_ORIGINS); or the browser says it comes from
 * another site (`Sec-Fetch-Site`, which also marks the image and media loads that carry no
 * `Origin`). Clients that are not browsers send neither header and are never refused.
 */
export function crossSiteProblem(req: Request, allowed: ReadonlySet<string>): string | undefined {
  const origin = req.get('origin');
  if (origin !== undefined) {
    if (allowed.has(origin)) return undefined;
    let host: string | undefined;
    try {
      host = origin === 'null' ? undefined : new URL(origin).host;
    } catch {
      host = undefined;
    }
    if (host === undefined || host.toLowerCase() !== (req.host ?? '').toLowerCase()) {
      return `requests from ${origin.slice(0, 200)} are refused: only this site's own pages (and ALLOWED_ORIGINS) may send them`;
    }
    return undefined;
  }
  const site = req.get('sec-fetch-site');
  if (site === 'cross-site' || site === 'same-site') {
    return 'requests a browser sends from another site are refused';
  }
  return undefined;
}

/** The allowed origins of ALLOWED_ORIGINS (comma-separated), as a set. */
export function allowedOrigins(setting: string): ReadonlySet<string> {
  return new Set(
    setting
      .split(',')
      .map((o) => o.trim())
      .filter((o) => o.length > 0),
  );
}

/**
 * Middleware for REST and `/rpc`: a request that may change something (any method but GET,
 * HEAD, OPTIONS) from a foreign origin is a 403 before anything else reads it. Logins and
 * registrations included, so another site cannot make a visitor's browser guess passwords.
 */
export function refuseCrossSiteChanges(allowed: ReadonlySet<string>) {
  return (req: Request, _res: Response, next: NextFunction): void => {
    const problem = SAFE_METHODS.has(req.method) ? undefined : crossSiteProblem(req, allowed);
    next(problem ? new HttpError(403, ErrorCodes.FORBIDDEN, problem) : undefined);
  };
}
