import { extname } from 'node:path';
import type { Request, Response } from 'express';
import { z } from 'zod';
import {
  Events,
  id,
  makePlay,
  playEventId,
  playlistsContract,
  SHARE_TOKEN,
  type ShareAccess,
  trackPlayedSchema,
} from '../../common/contracts/index.js';
import { ForbiddenError, NotFoundError, withTimeout } from '../../common/index.js';
import { sendAudioFile } from '../audio.js';
import { requireCaller } from '../auth.js';
import { catalogCoverColor, MAX_COVER_SIZE, sendCover } from '../covers.js';
import { contractParams, jsonBody, paging, parseBody, queryInt } from '../http.js';
import type { RouteContext } from './context.js';
import { answerAudio } from './stream.js';

const sharePlayBody = z.strictObject({
  trackId: id,
  msPlayed: trackPlayedSchema.shape.msPlayed.optional(),
  /** Chosen by the page and sent again on a retry, so a retried play counts once. */
  playId: z.uuid().optional(),
});

/**
 * Who plays through a share: no user. The play is of the track, counted everywhere plays are,
 * under this pseudo-listener (one per share, so the event log spreads shares over its
 * partitions); no account has such an id (user ids are UUIDs).
 */
export const shareListener = (shareId: string) => `share:${shareId}`;

/**
 * Share links. The owner's side needs a login (`/api/me/shares`); a link's side
 * (`/api/shares/:token/...`) needs nothing but the token, and answers only for what the share
 * holds: every request asks the playlists service (`shareTrack`, one indexed row), never a
 * cache, so a deleted or expired share closes on every gateway at its next request.
 */
export function shareRoutes({
  router,
  services,
  log,
  covers,
  publisher,
  publishTimeoutMs,
  plays,
}: RouteContext): void {
  const { playlists, catalog } = services;

  router.get('/api/me/shares', async (_req, res) => {
    const caller = requireCaller(res);
    res.json(await playlists.call('listShares', {}, { caller }));
  });

  router.post('/api/me/shares', async (req, res) => {
    const caller = requireCaller(res);
    const params = contractParams(playlistsContract, 'createShare', jsonBody(req));
    res.status(201).json(await playlists.call('createShare', params, { caller }));
  });

  router.patch('/api/me/shares/:id', async (req, res) => {
    const caller = requireCaller(res);
    const params = contractParams(playlistsContract, 'updateShare', { ...jsonBody(req), id: req.params.id });
    res.json(await playlists.call('updateShare', params, { caller }));
  });

  router.delete('/api/me/shares/:id', async (req, res) => {
    const caller = requireCaller(res);
    res.json(await playlists.call('deleteShare', { id: req.params.id }, { caller }));
  });

  /** The link's token from the path; anything not shaped like one is refused before any call. */
  const tokenOf = (req: Request): string => {
    const token = req.params.token;
    if (typeof token !== 'string' || !SHARE_TOKEN.test(token))
      throw new NotFoundError('this link has expired or does not exist');
    return token;
  };

  /** The share's permission for the path's track: 404 for a dead link, 403 for a track it does not hold. */
  const access = (req: Request): Promise<ShareAccess> =>
    playlists.call('shareTrack', { token: tokenOf(req), trackId: String(req.params.id) });

  /** What the link shares, a page of its tracks at a time; asked without `offset`, it counts a visit. */
  router.get('/api/shares/:token', async (req, res) => {
    const page = paging(req);
    const params = contractParams(playlistsContract, 'openShare', {
      token: tokenOf(req),
      ...page,
      visit: page.offset === undefined,
    });
    res.set('Cache-Control', 'no-store');
    res.json(await playlists.call('openShare', params));
  });

  /** The file itself (never a transcode, which needs a login), with Range support. */
  const sendShared = async (req: Request, res: Response, download: boolean) => {
    const allowed = await access(req);
    if (download && !allowed.downloadable) throw new ForbiddenError('this share does not allow downloads');
    const file = await catalog.call('getTrackFile', { id: allowed.trackId });
    res.set('Cache-Control', 'no-store');
    if (download) res.attachment(`track-${file.id}${extname(file.path)}`);
    await answerAudio(res, log, file, () => sendAudioFile(res, file.path, file.mimeType));
  };

  router.get('/api/shares/:token/tracks/:id/stream', (req, res) => sendShared(req, res, false));
  router.get('/api/shares/:token/tracks/:id/download', (req, res) => sendShared(req, res, true));

  router.get('/api/shares/:token/tracks/:id/cover', async (req, res) => {
    const allowed = await access(req);
    const size = queryInt(req, 'size', 1, MAX_COVER_SIZE) ?? 300;
    const color = await catalogCoverColor(catalog, allowed.trackId);
    if (!color) throw new NotFoundError(`no cover of track ${allowed.trackId}`);
    await sendCover(res, covers, color, size);
  });

  /**
   * A play through the link: a play of the track by no user, limited like anonymous traffic
   * (per client address, on the same allowance accounts draw on).
   */
  router.post('/api/shares/:token/plays', async (req, res) => {
    const body = parseBody(req, sharePlayBody);
    const allowed = await playlists.call('shareTrack', { token: tokenOf(req), trackId: body.trackId });
    plays.take(`address:${req.ip ?? 'unknown'}`, 1);
    const file = await catalog.call('getTrackFile', { id: allowed.trackId });
    const listener = shareListener(allowed.shareId);
    const play = makePlay({
      userId: listener,
      trackId: allowed.trackId,
      playedAt: new Date(),
      durationMs: file.durationMs,
      msPlayed: body.msPlayed,
      source: 'share',
    });
    const eventId = body.playId ? playEventId(listener, body.playId) : undefined;
    const event = await withTimeout(
      publisher.publish(Events.trackPlayed, play, eventId),
      publishTimeoutMs,
      'the broker confirming the play',
    );
    res.status(202).json({ id: event.id });
  });
}
