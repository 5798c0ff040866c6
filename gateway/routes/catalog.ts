import type { Request } from 'express';
import { ALBUM_SORTS, CURSOR_MAX, catalogContract, LIBRARY_ID_MAX } from '../../common/contracts/index.js';
import { InvalidParamsError, NotFoundError } from '../../common/index.js';
import { forClient, requireCaller } from '../auth.js';
import { contractParams, jsonBody, paging, pathInt, queryEnum, queryInt, queryString } from '../http.js';
import type { RouteContext } from './context.js';

/** Browsing and search: public, one catalog call each. */
export function catalogRoutes({ router, services }: RouteContext): void {
  const { catalog } = services;
  /** `?library=`: only that library (of those the caller sees). */
  const library = (req: Request) => ({ library: queryInt(req, 'library', 1, LIBRARY_ID_MAX) });

  router.get('/api/artists', async (req, res) => {
    const params = { ...paging(req), cursor: queryString(req, 'cursor', CURSOR_MAX), ...library(req) };
    res.json(await catalog.call('listArtists', params, forClient(req, res)));
  });

  router.get('/api/artists/:id', async (req, res) => {
    res.json(await catalog.call('getArtist', { id: req.params.id }, forClient(req, res)));
  });

  router.get('/api/albums', async (req, res) => {
    const params = {
      sort: queryEnum(req, 'sort', ALBUM_SORTS),
      genre: queryString(req, 'genre', 100),
      ...paging(req),
      cursor: queryString(req, 'cursor', CURSOR_MAX),
      ...library(req),
    };
    res.json(await catalog.call('listAlbums', params, forClient(req, res)));
  });

  router.get('/api/albums/:id', async (req, res) => {
    res.json(await catalog.call('getAlbum', { id: req.params.id }, forClient(req, res)));
  });

  router.get('/api/tracks', async (req, res) => {
    const params = {
      genre: queryString(req, 'genre', 100),
      ...paging(req),
      cursor: queryString(req, 'cursor', CURSOR_MAX),
      ...library(req),
    };
    res.json(await catalog.call('listTracks', params, forClient(req, res)));
  });

  router.get('/api/tracks/:id', async (req, res) => {
    res.json(await catalog.call('getTrack', { id: req.params.id }, forClient(req, res)));
  });

  /** A track's lyrics (synced lines carry `startMs`); 404 when it has none. */
  router.get('/api/tracks/:id/lyrics', async (req, res) => {
    const lyrics = await catalog.call('getLyrics', { trackId: req.params.id }, forClient(req, res));
    if (!lyrics) throw new NotFoundError(`track ${req.params.id} has no lyrics`, { id: req.params.id });
    res.json(lyrics);
  });

  router.get('/api/search', async (req, res) => {
    const q = queryString(req, 'q', 200)?.trim();
    if (!q) throw new InvalidParamsError('q is required: what to search for');
    const params = { q, limit: queryInt(req, 'limit', 1, 100), ...library(req) };
    res.json(await catalog.call('search', params, forClient(req, res)));
  });

  router.get('/api/genres', async (req, res) => {
    res.json(await catalog.call('listGenres', library(req), forClient(req, res)));
  });

  // Libraries: the caller's to read; the rest is for administrators (the catalog checks).
  router.get('/api/libraries', async (req, res) => {
    res.json(await catalog.call('listLibraries', {}, forClient(req, res)));
  });

  router.get('/api/libraries/manage', async (req, res) => {
    res.json(
      await catalog.call('manageLibraries', {}, { ...forClient(req, res), caller: requireCaller(res) }),
    );
  });

  router.post('/api/libraries', async (req, res) => {
    const caller = requireCaller(res);
    const params = contractParams(catalogContract, 'addLibrary', jsonBody(req));
    res.status(201).json(await catalog.call('addLibrary', params, { ...forClient(req, res), caller }));
  });

  /** Renames a library and/or changes whether everyone sees it (`{ name?, everyone? }`). */
  router.patch('/api/libraries/:id', async (req, res) => {
    const caller = requireCaller(res);
    const id = pathInt(req, 'id', LIBRARY_ID_MAX);
    const params = contractParams(catalogContract, 'updateLibrary', { ...jsonBody(req), id });
    res.json(await catalog.call('updateLibrary', params, { ...forClient(req, res), caller }));
  });

  router.delete('/api/libraries/:id', async (req, res) => {
    const caller = requireCaller(res);
    res.json(
      await catalog.call(
        'removeLibrary',
        { id: pathInt(req, 'id', LIBRARY_ID_MAX) },
        { ...forClient(req, res), caller },
      ),
    );
  });

  /** Grants (PUT) or revokes (DELETE) a user's sight of a library. */
  router.put('/api/libraries/:id/users/:userId', async (req, res) => {
    const caller = requireCaller(res);
    const params = { id: pathInt(req, 'id', LIBRARY_ID_MAX), userId: req.params.userId };
    res.json(
      await catalog.call('grantLibrary', contractParams(catalogContract, 'grantLibrary', params), {
        ...forClient(req, res),
        caller,
      }),
    );
  });

  router.delete('/api/libraries/:id/users/:userId', async (req, res) => {
    const caller = requireCaller(res);
    const params = { id: pathInt(req, 'id', LIBRARY_ID_MAX), userId: req.params.userId };
    res.json(
      await catalog.call('revokeLibrary', contractParams(catalogContract, 'revokeLibrary', params), {
        caller,
      }),
    );
  });
}
