import { SCROBBLE_SERVICES, scrobblerContract } from '../../common/contracts/index.js';
import { NotFoundError } from '../../common/index.js';
import { requireCaller } from '../auth.js';
import { contractParams, jsonBody } from '../http.js';
import type { RouteContext } from './context.js';

/** Which service a path names (`listenbrainz`, `lastfm`); anything else is a 404. */
function serviceOf(name: string | undefined): (typeof SCROBBLE_SERVICES)[number] {
  const found = SCROBBLE_SERVICES.find((s) => s === name);
  if (!found) throw new NotFoundError(`no scrobbling service ${String(name).slice(0, 40)}`);
  return found;
}

/** The caller's links to ListenBrainz and Last.fm (services/scrobbler). */
export function scrobblingRoutes({ router, services }: RouteContext): void {
  const { scrobbler } = services;

  router.get('/api/me/scrobbling', async (_req, res) => {
    res.json(await scrobbler.call('status', {}, { caller: requireCaller(res) }));
  });

  /** Last.fm's web flow: a page to allow this server, and the token to link with afterwards. */
  router.post('/api/me/scrobbling/lastfm/authorize', async (_req, res) => {
    res.json(await scrobbler.call('lastfmAuthorize', {}, { caller: requireCaller(res) }));
  });

  /** `{token}` for ListenBrainz; `{sessionKey}` or `{authToken}` for Last.fm. */
  router.put('/api/me/scrobbling/:service', async (req, res) => {
    const caller = requireCaller(res);
    const service = serviceOf(req.params.service);
    const params = contractParams(scrobblerContract, 'link', { ...jsonBody(req), service });
    res.json(await scrobbler.call('link', params, { caller }));
  });

  router.delete('/api/me/scrobbling/:service', async (req, res) => {
    const caller = requireCaller(res);
    res.json(await scrobbler.call('unlink', { service: serviceOf(req.params.service) }, { caller }));
  });

  /** "Send my earlier plays": begins or carries on; answers the progress. */
  router.post('/api/me/scrobbling/:service/earlier', async (req, res) => {
    const caller = requireCaller(res);
    res
      .status(202)
      .json(await scrobbler.call('sendEarlier', { service: serviceOf(req.params.service) }, { caller }));
  });
}
