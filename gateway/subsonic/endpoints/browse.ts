import { IGNORED_ARTICLES } from '../../../common/contracts/index.js';
import { type Endpoint, ifFound } from '../context.js';
import { album, albumFolder, artist, artistFolder, song } from '../models.js';
import { SubsonicCodes, SubsonicError } from '../response.js';

const ignoredArticles = IGNORED_ARTICLES.join(' ');

export const browseEndpoints: Record<string, Endpoint> = {
  getArtists: (call, deps) =>
    deps.artistIndex.answer(call, 'id3', ({ groups }) => ({ artists: { ignoredArticles, index: groups } })),

  /**
   * The folder view of the same index (artists are the top folders, albums below them).
   * `lastModified` is when this gateway first saw this version of the catalog; a client that
   * sends it back as `ifModifiedSince` gets no index while it is still current.
   */
  getIndexes: async (call, deps) => {
    const ifModifiedSince = call.params.int('ifModifiedSince', 0, Number.MAX_SAFE_INTEGER);
    return deps.artistIndex.answer(
      call,
      'folder',
      ({ groups, since }) => ({ indexes: { ignoredArticles, lastModified: since, index: groups } }),
      ({ since }) =>
        ifModifiedSince !== undefined && ifModifiedSince >= since
          ? { indexes: { ignoredArticles, lastModified: since } }
          : undefined,
    );
  },

  getArtist: async (call, deps) => {
    const id = call.params.required('id');
    const [found, marks] = await Promise.all([deps.services.catalog.call('getArtist', { id }), call.marks()]);
    return { artist: { ...artist(found, marks), album: found.albums.map((a) => album(a, marks)) } };
  },

  getAlbum: async (call, deps) => {
    const id = call.params.required('id');
    const [found, marks] = await Promise.all([deps.services.catalog.call('getAlbum', { id }), call.marks()]);
    return { album: { ...album(found, marks), song: found.tracks.map((t) => song(t, marks)) } };
  },

  getSong: async (call, deps) => {
    const id = call.params.required('id');
    const [track, marks] = await Promise.all([deps.services.catalog.call('getTrack', { id }), call.marks()]);
    return { song: song(track, marks) };
  },

  /** A folder: an artist (its albums) or an album (its songs). */
  getMusicDirectory: async (call, deps) => {
    const id = call.params.required('id');
    const { catalog } = deps.services;
    const [foundArtist, foundAlbum, marks] = await Promise.all([
      ifFound(catalog.call('getArtist', { id })),
      ifFound(catalog.call('getAlbum', { id })),
      call.marks(),
    ]);
    if (foundArtist) {
      return {
        directory: {
          ...artistFolder(foundArtist, marks),
          child: foundArtist.albums.map((a) => albumFolder(a, marks)),
        },
      };
    }
    if (foundAlbum) {
      return {
        directory: {
          id,
          name: foundAlbum.title,
          parent: foundAlbum.artistId,
          starred: marks.starred.albums.get(id),
          userRating: marks.rated.albums.get(id),
          child: foundAlbum.tracks.map((t) => song(t, marks)),
        },
      };
    }
    throw new SubsonicError(SubsonicCodes.NOT_FOUND, `no folder ${id}`);
  },

  getGenres: async (call, deps) => {
    const genres = await deps.services.catalog.call('listGenres', { library: call.library });
    return {
      genres: {
        genre: genres.map((g) => ({ songCount: g.trackCount, albumCount: g.albumCount, value: g.name })),
      },
    };
  },
};
