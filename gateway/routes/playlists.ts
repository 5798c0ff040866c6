import { z } from 'zod';
import { PLAYLIST_MAX_TRACKS, playlistsContract } from '../../common/contracts/index.js';
import { requireCaller } from '../auth.js';
import { contractParams, jsonBody, paging, parseBody, pathInt, queryString } from '../http.js';
import type { RouteContext } from './context.js';

const patchBody = z
  .strictObject({ name: z.string(), public: z.boolean() })
  .partial()
  .refine((b) => b.name !== undefined || b.public !== undefined, 'give name, public or both');

/** Playlists: reading follows the service's visibility rules, changing needs a logged-in owner. */
export function playlistRoutes({ router, services }: RouteContext): void {
  const { playlists } = services;

  /** The caller's own playlists, or `?ownerId=`'s public ones (no login needed for those). */
  router.get('/api/playlists', async (req, res) => {
    const ownerId = queryString(req, 'ownerId', 64);
    const caller = ownerId ? res.locals.caller : requireCaller(res);
    res.json(await playlists.call('list', { ownerId }, { caller }));
  });

  router.post('/api/playlists', async (req, res) => {
    const caller = requireCaller(res);
    const params = contractParams(playlistsContract, 'create', jsonBody(req));
    res.status(201).json(await playlists.call('create', params, { caller }));
  });

  /** A smart playlist `{name, public?, rules}` (common/contracts/smart.ts). */
  router.post('/api/playlists/smart', async (req, res) => {
    const caller = requireCaller(res);
    const params = contractParams(playlistsContract, 'createSmart', jsonBody(req));
    res.status(201).json(await playlists.call('createSmart', params, { caller }));
  });

  /** A smart playlist from a Navidrome `.nsp` file: the body is the file `{name?, public?, nsp}`. */
  router.post('/api/playlists/import-nsp', async (req, res) => {
    const caller = requireCaller(res);
    const params = contractParams(playlistsContract, 'importNsp', jsonBody(req));
    res.status(201).json(await playlists.call('importNsp', params, { caller }));
  });

  /** Replaces a smart playlist's rules. */
  router.put('/api/playlists/:id/rules', async (req, res) => {
    const caller = requireCaller(res);
    const params = contractParams(playlistsContract, 'setRules', { rules: jsonBody(req), id: req.params.id });
    res.json(await playlists.call('setRules', params, { caller }));
  });

  /**
   * The playlist as an `.m3u8` file to download (tracks the caller may not see left out; paths
   * relative to each track's library folder).
   */
  router.get('/api/playlists/:id/export', async (req, res) => {
    const params = contractParams(playlistsContract, 'exportM3u', { id: req.params.id });
    const file = await playlists.call('exportM3u', params, { caller: res.locals.caller });
    res
      .type('audio/x-mpegurl; charset=utf-8')
      .set('Content-Disposition', `attachment; filename*=UTF-8''${encodeURIComponent(file.fileName)}`)
      .set('X-Tracks-Left-Out', String(file.leftOut))
      .send(file.text);
  });

  /** One page of the playlist's entries: `?limit=` (at most 500) from position `?offset=`. */
  router.get('/api/playlists/:id', async (req, res) => {
    const params = contractParams(playlistsContract, 'get', { id: req.params.id, ...paging(req) });
    res.json(await playlists.call('get', params, { caller: res.locals.caller }));
  });

  /** Renames and/or changes visibility in one change of the service, answering the final state. */
  router.patch('/api/playlists/:id', async (req, res) => {
    const caller = requireCaller(res);
    const body = parseBody(req, patchBody);
    const params = contractParams(playlistsContract, 'update', { id: req.params.id, ...body });
    res.json(await playlists.call('update', params, { caller }));
  });

  router.delete('/api/playlists/:id', async (req, res) => {
    const caller = requireCaller(res);
    res.json(await playlists.call('delete', { id: req.params.id }, { caller }));
  });

  router.post('/api/playlists/:id/tracks', async (req, res) => {
    const caller = requireCaller(res);
    const params = contractParams(playlistsContract, 'addTracks', { ...jsonBody(req), id: req.params.id });
    res.json(await playlists.call('addTracks', params, { caller }));
  });

  router.post('/api/playlists/:id/tracks/move', async (req, res) => {
    const caller = requireCaller(res);
    const params = contractParams(playlistsContract, 'moveTrack', { ...jsonBody(req), id: req.params.id });
    res.json(await playlists.call('moveTrack', params, { caller }));
  });

  router.delete('/api/playlists/:id/tracks/:position', async (req, res) => {
    const caller = requireCaller(res);
    const params = { id: req.params.id, position: pathInt(req, 'position', PLAYLIST_MAX_TRACKS) };
    res.json(await playlists.call('removeTrack', params, { caller }));
  });
}
