import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import type { PlayDateWindow } from '../../common/contracts/events.js';
import type { Starred } from '../../common/contracts/users.js';
import { AppError } from '../../common/errors.js';
import type { EventPublisher } from '../../common/events/publisher.js';
import type { Authenticator } from '../auth.js';
import type { Services } from '../services.js';
import { readCredentials, subsonicCaller } from './auth.js';
import { type Call, type Deps, type Endpoint, SENT } from './context.js';
import { annotationEndpoints } from './endpoints/annotation.js';
import { browseEndpoints } from './endpoints/browse.js';
import { listEndpoints } from './endpoints/lists.js';
import { mediaEndpoints } from './endpoints/media.js';
import { playlistEndpoints } from './endpoints/playlists.js';
import { EXTENSIONS, systemEndpoints } from './endpoints/system.js';
import { type Stars, starsOf } from './models.js';
import { NowPlaying } from './now-playing.js';
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
}

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
    if (err.codeName === 'UNAVAILABLE' || err.codeName === 'TIMEOUT')
      log.warn({ err: err.message }, 'subsonic');
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
    nowPlaying: new NowPlaying(),
    publishTimeoutMs: deps.publishTimeoutMs,
    playDates: deps.playDates,
  };
  const endpoints: Record<string, Endpoint> = {
    ...systemEndpoints,
    ...browseEndpoints,
    ...listEndpoints,
    ...mediaEndpoints(),
    ...playlistEndpoints,
    ...annotationEndpoints,
  };

  const router = express.Router();
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
        let stars: Promise<Stars> | undefined;
        const call: Call = {
          params,
          caller,
          as: { caller },
          req,
          res,
          starred: () => {
            starred ??= services.users.call('starred', {}, { caller });
            return starred;
          },
          stars: () => {
            stars ??= call.starred().then(starsOf);
            return stars;
          },
        };
        const body = await endpoint(call, shared);
        if (body !== SENT) send(res, 'ok', body, format);
      } catch (err) {
        if (res.headersSent) {
          log.warn({ err }, 'subsonic answer failed after it started');
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
    send(res, 'ok', { openSubsonicExtensions: EXTENSIONS }, formatOf(req));
  });
  for (const [name, endpoint] of Object.entries(endpoints)) route(name, handler(endpoint));

  router.use((req: Request, res: Response) => {
    const name = req.path
      .replace(/^\//, '')
      .replace(/\.view$/, '')
      .slice(0, 100);
    const err = new SubsonicError(SubsonicCodes.GENERIC, `unknown API method ${name}`);
    sendError(res, err, formatOf(req), 404);
  });
  router.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    sendError(res, toSubsonicError(err, log), formatOf(req));
  });
  return router;
}
