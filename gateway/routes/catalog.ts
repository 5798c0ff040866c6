import { ALBUM_SORTS, CURSOR_MAX } from '../../common/contracts/catalog.js';
import { InvalidParamsError, NotFoundError } from '../../common/errors.js';
import type { Caller } from '../../common/rpc/contract.js';
import { paging, queryEnum, queryInt, queryString } from '../http.js';
import type { RouteContext } from './context.js';

/** Browsing and search: public, one catalog call each. */
export function catalogRoutes({ router, services }: RouteContext): void {
  const { catalog } = services;
  const as = (caller: Caller | undefined) => ({ caller });

  router.get('/api/artists', async (req, res) => {
    const params = { ...paging(req), cursor: queryString(req, 'cursor', CURSOR_MAX) };
    res.json(await catalog.call('listArtists', params, as(res.locals.caller)));
  });

  router.get('/api/artists/:id', async (req, res) => {
    res.json(await catalog.call('getArtist', { id: req.params.id }, as(res.locals.caller)));
  });

  router.get('/api/albums', async (req, res) => {
    const params = {
      sort: queryEnum(req, 'sort', ALBUM_SORTS),
      genre: queryString(req, 'genre', 100),
      ...paging(req),
      cursor: queryString(req, 'cursor', CURSOR_MAX),
    };
    res.json(await catalog.call('listAlbums', params, as(res.locals.caller)));
  });

  router.get('/api/albums/:id', async (req, res) => {
    res.json(await catalog.call('getAlbum', { id: req.params.id }, as(res.locals.caller)));
  });

  router.get('/api/tracks', async (req, res) => {
    const params = {
      genre: queryString(req, 'genre', 100),
      ...paging(req),
      cursor: queryString(req, 'cursor', CURSOR_MAX),
    };
    res.json(await catalog.call('listTracks', params, as(res.locals.caller)));
  });

  router.get('/api/tracks/:id', async (req, res) => {
    res.json(await catalog.call('getTrack', { id: req.params.id }, as(res.locals.caller)));
  });

  /** A track's lyrics (synced lines carry `startMs`); 404 when it has none. */
  router.get('/api/tracks/:id/lyrics', async (req, res) => {
    const lyrics = await catalog.call('getLyrics', { trackId: req.params.id }, as(res.locals.caller));
    if (!lyrics) throw new NotFoundError(`track ${req.params.id} has no lyrics`, { id: req.params.id });
    res.json(lyrics);
  });

  router.get('/api/search', async (req, res) => {
    const q = queryString(req, 'q', 200)?.trim();
    if (!q) throw new InvalidParamsError('q is required: what to search for');
    const params = { q, limit: queryInt(req, 'limit', 1, 100) };
    res.json(await catalog.call('search', params, as(res.locals.caller)));
  });

  router.get('/api/genres', async (_req, res) => {
    res.json(await catalog.call('listGenres', {}, as(res.locals.caller)));
  });
}
