import type { Logger } from 'pino';
import type {
  PlaybackStarted,
  ScrobbleLink,
  ScrobblerContract,
  ScrobbleService,
} from '../../common/contracts/index.js';
import {
  type EventEnvelope,
  type Handlers,
  InvalidInputError,
  NotFoundError,
  type Pool,
  UnavailableError,
} from '../../common/index.js';
import { askEarlier } from './earlier.js';
import { listenOf, type Outside } from './sender.js';
import { deleteLink, linksOf, markBroken, saveLink } from './store.js';

export interface HandlerDeps extends Outside {
  pool: Pool;
  partitions: number;
  lastfmAuthUrl: string;
  lastfmApiKey: string;
}

const NAME: Record<ScrobbleService, string> = { listenbrainz: 'ListenBrainz', lastfm: 'Last.fm' };

/** Calls to the services made while a user waits (linking) must answer within the RPC timeout. */
async function outside<T>(service: ScrobbleService, what: () => Promise<T>): Promise<T> {
  try {
    return await what();
  } catch {
    throw new UnavailableError(`${NAME[service]} could not be reached; try again later`);
  }
}

export function scrobblerHandlers(deps: HandlerDeps): Handlers<ScrobblerContract> {
  const { pool, sealer, listenbrainz, lastfm } = deps;
  const requireLastfm = () => {
    if (!lastfm.configured)
      throw new InvalidInputError('this server has no Last.fm API key (LASTFM_API_KEY)');
  };
  const linked = async (userId: string, service: ScrobbleService): Promise<ScrobbleLink> => {
    const [link] = await linksOf(pool, userId, service);
    if (!link) throw new NotFoundError(`no ${NAME[service]} link`);
    return link;
  };
  return {
    async status(_params, { caller }) {
      return { links: await linksOf(pool, caller.userId), lastfmAvailable: lastfm.configured };
    },

    async link(params, { caller }) {
      const { userId } = caller;
      let secret: string;
      let account: string | null = null;
      if (params.service === 'listenbrainz') {
        const valid = await outside('listenbrainz', () => listenbrainz.validate(params.token));
        if (!valid) throw new InvalidInputError('ListenBrainz refused this token');
        secret = params.token;
        account = valid.userName;
      } else if ('authToken' in params) {
        requireLastfm();
        const session = await outside('lastfm', () => lastfm.getSession(params.authToken));
        if (!session)
          throw new InvalidInputError(
            'Last.fm has not authorised this token (allow access on its page first)',
          );
        secret = session.key;
        account = session.name;
      } else {
        requireLastfm();
        secret = params.sessionKey;
      }
      await saveLink(pool, { userId, service: params.service, sealed: sealer.seal(secret, userId), account });
      return linked(userId, params.service);
    },

    async unlink({ service }, { caller }) {
      return { unlinked: await deleteLink(pool, caller.userId, service) };
    },

    async lastfmAuthorize() {
      requireLastfm();
      const authToken = await outside('lastfm', () => lastfm.getToken());
      const url = new URL(deps.lastfmAuthUrl);
      url.searchParams.set('api_key', deps.lastfmApiKey);
      url.searchParams.set('token', authToken);
      return { url: url.toString(), authToken };
    },

    async sendEarlier({ service }, { caller }) {
      return askEarlier(pool, caller.userId, service, deps.partitions);
    },
  };
}

/** How old a "now playing" may be when it is read and still be sent. */
const NOW_PLAYING_FRESH_MS = 10 * 60_000;

/**
 * "Now playing", on a best-effort basis: sent once to each healthy link of the user, never
 * retried (it is stale by then) and never queued; a refused credential still breaks the link.
 */
export function nowPlayingSubscriber(deps: HandlerDeps & { log: Logger }) {
  const { pool, sealer, listenbrainz, lastfm, log } = deps;
  return async (events: EventEnvelope<PlaybackStarted>[]): Promise<void> => {
    for (const { data } of events) {
      if (Date.now() - Date.parse(data.startedAt) > NOW_PLAYING_FRESH_MS) continue;
      const { rows } = await pool.query<{ service: ScrobbleService; secret: string }>(
        `SELECT service, secret FROM links WHERE user_id = $1 AND state = 'ok' AND not_before <= now()`,
        [data.userId],
      );
      if (rows.length === 0) continue;
      let track: ReturnType<typeof listenOf> | undefined;
      try {
        const found = (await deps.tracks([data.trackId])).get(data.trackId);
        track = found && listenOf(found, new Date(data.startedAt));
      } catch {
        continue;
      }
      if (!track) continue;
      for (const row of rows) {
        const opened = sealer.open(row.secret, data.userId);
        if (!opened) continue;
        const outcome =
          row.service === 'lastfm'
            ? await lastfm.updateNowPlaying(opened.value, track)
            : await listenbrainz.submit(opened.value, 'playing_now', [track]);
        if (outcome.kind === 'credentials') await markBroken(pool, data.userId, row.service, outcome.problem);
        else if (outcome.kind !== 'accepted') {
          log.debug({ service: row.service, outcome: outcome.kind }, 'now playing not sent');
        }
      }
    }
  };
}
