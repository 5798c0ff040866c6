import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import {
  LIBRARY_ID_MAX,
  type PlayAllowance,
  type PlayDateWindow,
  type Ratings,
  type Starred,
} from '../../common/contracts/index.js';
import { AppError, type EventPublisher, isUnavailable } from '../../common/index.js';
import type { Authenticator } from '../auth.js';
import { clientAddressOf } from '../auth.js';
import type { CoverCache } from '../covers.js';
import { crossSiteProblem } from '../cross-site.js';
import { toHttpError } from '../errors.js';
import type { Services } from '../services.js';
import { TranscodeBusyError, type Transcoder } from '../transcode.js';
import { ArtistIndexCache } from './artist-index.js';
import { readCredentials, subsonicCaller } from './auth.js';
import { type Call, type Deps, type Endpoint, SENT } from './context.js';
import { annotationEndpoints } from './endpoints/annotation.js';
import { browseEndpoints } from './endpoints/browse.js';
import { infoEndpoints } from './endpoints/info.js';
import { listEndpoints } from './endpoints/lists.js';
import { lyricsEndpoints } from './endpoints/lyrics.js';
import { mediaEndpoints } from './endpoints/media.js';
import { playerEndpoints } from './endpoints/players.js';
import { playlistEndpoints } from './endpoints/playlists.js';
import { shareEndpoints } from './endpoints/shares.js';
import { EXTENSIONS, systemEndpoints } from './endpoints/system.js';
import { userEndpoints } from './endpoints/users.js';
import { type Marks, marksOf } from './models.js';
import { Params } from './params.js';
import {
  API_VERSION,
  type Format,
  pickFormat,
  SubsonicCodes,
  SubsonicError,
  send,
  sendError,
} from './response.js';

export { API_VERSION } from './response.js';

export interface SubsonicDeps {
  /** The gateway's service clients and its one authenticator. */
  services: Services;
  auth: Authenticator;
  /** Started event publisher (scrobbles become `track.played`). */
  publisher: EventPublisher;
  logger: Logger;
  /** Longest wait for the broker to confirm a scrobble. */
  publishTimeoutMs: number;
  /** How old or new a scrobble's `time` may be. */
  playDates: PlayDateWindow;
  /** Largest form body, in bytes. */
  bodyLimitBytes: number;
  /** The gateway's ffmpeg runner for transcoded streams. */
  transcoder: Transcoder;
  /** Generated cover images, shared with the REST API's cover route. */
  covers: CoverCache;
  /** Origins besides the gateway's own that may send requests (ALLOWED_ORIGINS). */
  allowedOrigins: ReadonlySet<string>;
  /** How many plays each account may still post (shared with REST). */
  plays: PlayAllowance;
}

/** The longest player name (`c`) the services take; longer ones are cut. */
const CLIENT_NAME_MAX = 100;

/** `v` names the API version the client speaks: 1.x up to ours (1.16) is fine. */
function checkVersion(params: Params): void {
  const v = params.required('v');
  params.required('c');
  const match = /^(\d+)\.(\d+)(?:\.\d+)?$/.exec(v);
  if (!match) throw new SubsonicError(SubsonicCodes.GENERIC, 'v must be an API version like 1.16.1');
  const [major, minor] = [Number(match[1]), Number(match[2])];
  if (major < 1) {
    throw new SubsonicError(
      SubsonicCodes.CLIENT_TOO_OLD,
      `incompatible API version ${v}: the client must upgrade`,
    );
  }
  if (major > 1 || minor > 16) {
    throw new SubsonicError(
      SubsonicCodes.SERVER_TOO_OLD,
      `incompatible API version ${v}: this server speaks ${API_VERSION}`,
    );
  }
}

const SERVICE_CODES: Partial<Record<string, number>> = {
  NOT_FOUND: SubsonicCodes.NOT_FOUND,
  FORBIDDEN: SubsonicCodes.NOT_AUTHORIZED,
  UNAUTHORIZED: SubsonicCodes.WRONG_CREDENTIALS,
};

/** The API's error for anything thrown: service errors keep their message, the rest are logged. */
function toSubsonicError(err: unknown, log: Logger): SubsonicError {
  if (err instanceof SubsonicError) return err;
  if (err instanceof AppError && err.codeName !== 'INTERNAL') {
    if (isUnavailable(err)) log.warn({ err: err.message }, 'subsonic');
    return new SubsonicError(SERVICE_CODES[err.codeName ?? ''] ?? SubsonicCodes.GENERIC, err.message);
  }
  const bodyError = err as { type?: unknown; expose?: unknown; message?: unknown };
  if (typeof bodyError.type === 'string' && bodyError.expose === true) {
    return new SubsonicError(SubsonicCodes.GENERIC, `bad request body: ${String(bodyError.message)}`);
  }
  log.error({ err }, 'subsonic request failed');
  return new SubsonicError(SubsonicCodes.GENERIC, 'internal error');
}

const formatOf = (req: Request): Format => {
  const query = req.query as Record<string, unknown>;
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  return pickFormat(str(query.f), str(query.callback));
};

/**
 * The Subsonic / OpenSubsonic REST API (mount it at `/rest`): every method at `/<name>` and
 * `/<name>.view`, by GET or form POST, answered in XML (default), JSON or JSONP. Each request
 * authenticates (token, password or API key) and becomes calls to the services, acting as
 * that user.
 */
export function buildSubsonicRouter(deps: SubsonicDeps): express.Router {
  const log = deps.logger.child({ module: 'subsonic' });
  const { services } = deps;
  const shared: Deps = {
    services,
    publisher: deps.publisher,
    log,
    transcoder: deps.transcoder,
    covers: deps.covers,
    publishTimeoutMs: deps.publishTimeoutMs,
    playDates: deps.playDates,
    plays: deps.plays,
    artistIndex: new ArtistIndexCache(services.catalog),
  };
  const endpoints: Record<string, Endpoint> = {
    ...systemEndpoints,
    ...browseEndpoints,
    ...listEndpoints,
    ...infoEndpoints,
    ...mediaEndpoints,
    ...lyricsEndpoints,
    ...playlistEndpoints,
    ...shareEndpoints,
    ...annotationEndpoints,
    ...playerEndpoints,
    ...userEndpoints,
  };

  const router = express.Router();
  // Players are programs, not pages: a request a browser sends from another site (an image
  // or a form pointing here) is refused before its credentials are checked, so another site
  // cannot spend a visitor's login attempts, nor change anything with credentials it put in a URL.
  router.use((req: Request, res: Response, next: NextFunction) => {
    const problem = crossSiteProblem(req, deps.allowedOrigins);
    if (!problem) return next();
    sendError(res, new SubsonicError(SubsonicCodes.NOT_AUTHORIZED, problem), formatOf(req));
  });
  router.use(
    express.urlencoded({
      extended: false,
      limit: deps.bodyLimitBytes,
      parameterLimit: 10_000,
    }),
  );

  function handler(endpoint: Endpoint) {
    return async (req: Request, res: Response) => {
      const params = Params.of(req);
      const format = pickFormat(params.string('f'), params.string('callback'));
      try {
        checkVersion(params);
        const caller = await subsonicCaller(deps.auth, readCredentials(params), req.ip);
        let starred: Promise<Starred> | undefined;
        let ratings: Promise<Ratings> | undefined;
        let marks: Promise<Marks> | undefined;
        const call: Call = {
          params,
          caller,
          as: { caller },
          library: params.int('musicFolderId', 1, LIBRARY_ID_MAX),
          req,
          res,
          client: params.required('c').trim().slice(0, CLIENT_NAME_MAX) || 'unknown',
          format,
          starred: () => {
            starred ??= services.users.call('starred', {}, { caller });
            return starred;
          },
          ratings: () => {
            ratings ??= services.users.call('ratings', {}, { caller });
            return ratings;
          },
          marks: () => {
            marks ??= Promise.all([call.starred(), call.ratings()]).then(([s, r]) => marksOf(s, r));
            return marks;
          },
        };
        // The catalog answers as the caller sees it (the libraries they may see) in every endpoint.
        const body = await endpoint(call, {
          ...shared,
          services: { ...services, catalog: services.catalog.actingFor(caller, clientAddressOf(req)) },
        });
        if (body !== SENT) send(res, 'ok', body, format);
      } catch (err) {
        if (res.headersSent) {
          log.warn({ err }, 'subsonic answer failed after it started');
          return;
        }
        if (err instanceof TranscodeBusyError) {
          // Not the API's usual HTTP 200: a player streaming should back off and retry.
          res.set('Retry-After', String(toHttpError(err).retryAfter));
          sendError(res, toSubsonicError(err, log), format, 503);
          return;
        }
        sendError(res, toSubsonicError(err, log), format);
      }
    };
  }

  const route = (name: string, handle: (req: Request, res: Response) => unknown) => {
    for (const path of [`/${name}`, `/${name}.view`]) router.route(path).get(handle).post(handle);
  };
  // OpenSubsonic: the extension list is public, so clients can learn how to authenticate.
  route('getOpenSubsonicExtensions', (req, res) => {
    const openSubsonicExtensions = EXTENSIONS.map(({ name, versions }) => ({ name, versions }));
    send(res, 'ok', { openSubsonicExtensions }, formatOf(req));
  });
  for (const [name, endpoint] of Object.entries(endpoints)) route(name, handler(endpoint));

  router.use((req: Request, res: Response) => {
    const name = req.path
      .replace(/^\//, '')
      .replace(/\.view$/, '')
      .slice(0, 100);
    // An answer in the API's own form (HTTP 200, error 0), not a 404: players take a 404 as
    // the server being away, and stop using it.
    const err = new SubsonicError(
      SubsonicCodes.GENERIC,
      `unknown API method ${name}: this server does not have it`,
    );
    sendError(res, err, formatOf(req));
  });
  router.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    sendError(res, toSubsonicError(err, log), formatOf(req));
  });
  return router;
}
