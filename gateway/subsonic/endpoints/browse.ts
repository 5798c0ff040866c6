import type { Artist } from '../../../common/contracts/catalog.js';
import { type Deps, type Endpoint, everything, ifFound } from '../context.js';
import { album, albumFolder, artist, artistIndex, IGNORED_ARTICLES, song } from '../models.js';
import { SubsonicCodes, SubsonicError } from '../response.js';

const allArtists = (deps: Deps): Promise<Artist[]> =>
  everything((limit, offset) => deps.services.catalog.call('listArtists', { limit, offset }));

export const browseEndpoints: Record<string, Endpoint> = {
  getArtists: async (call, deps) => {
    const [artists, stars] = await Promise.all([allArtists(deps), call.stars()]);
    return {
      artists: { ignoredArticles: IGNORED_ARTICLES, index: artistIndex(artists, (a) => artist(a, stars)) },
    };
  },

  /** The folder view of the same index (artists are the top folders, albums below them). */
  getIndexes: async (call, deps) => {
    const [artists, stars] = await Promise.all([allArtists(deps), call.stars()]);
    return {
      indexes: {
        ignoredArticles: IGNORED_ARTICLES,
        // The catalog keeps no change time: "now" makes clients that cache by it refresh.
        lastModified: Date.now(),
        index: artistIndex(artists, (a) => ({ id: a.id, name: a.name, starred: stars.artists.get(a.id) })),
      },
    };
  },

  getArtist: async (call, deps) => {
    const id = call.params.required('id');
    const [found, stars] = await Promise.all([deps.services.catalog.call('getArtist', { id }), call.stars()]);
    return { artist: { ...artist(found, stars), album: found.albums.map((a) => album(a, stars)) } };
  },

  getAlbum: async (call, deps) => {
    const id = call.params.required('id');
    const [found, stars] = await Promise.all([deps.services.catalog.call('getAlbum', { id }), call.stars()]);
    return { album: { ...album(found, stars), song: found.tracks.map((t) => song(t, stars)) } };
  },

  getSong: async (call, deps) => {
    const id = call.params.required('id');
    const [track, stars] = await Promise.all([deps.services.catalog.call('getTrack', { id }), call.stars()]);
    return { song: song(track, stars) };
  },

  /** A folder: an artist (its albums) or an album (its songs). */
  getMusicDirectory: async (call, deps) => {
    const id = call.params.required('id');
    const { catalog } = deps.services;
    const [foundArtist, foundAlbum, stars] = await Promise.all([
      ifFound(catalog.call('getArtist', { id })),
      ifFound(catalog.call('getAlbum', { id })),
      call.stars(),
    ]);
    if (foundArtist) {
      return {
        directory: {
          id,
          name: foundArtist.name,
          starred: stars.artists.get(id),
          child: foundArtist.albums.map((a) => albumFolder(a, stars)),
        },
      };
    }
    if (foundAlbum) {
      return {
        directory: {
          id,
          name: foundAlbum.title,
          parent: foundAlbum.artistId,
          starred: stars.albums.get(id),
          child: foundAlbum.tracks.map((t) => song(t, stars)),
        },
      };
    }
    throw new SubsonicError(SubsonicCodes.NOT_FOUND, `no folder ${id}`);
  },

  getGenres: async (_call, deps) => {
    const genres = await deps.services.catalog.call('listGenres', {});
    return {
      genres: {
        genre: genres.map((g) => ({ songCount: g.trackCount, albumCount: g.albumCount, value: g.name })),
      },
    };
  },
};
