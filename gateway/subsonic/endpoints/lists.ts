import type { Album, Artist, CatalogContract } from '../../../common/contracts/index.js';
import type { ParamsOf } from '../../../common/index.js';
import {
  albumsByIds,
  artistsByIds,
  type Call,
  type Deps,
  distinct,
  type Endpoint,
  orElse,
  tracksByIds,
} from '../context.js';
import { album, albumFolder, artist, artistFolder, type Marks, song } from '../models.js';
import { type Body, SubsonicCodes, SubsonicError } from '../response.js';

const LIST_TYPES = [
  'random',
  'newest',
  'highest',
  'frequent',
  'recent',
  'alphabeticalByName',
  'alphabeticalByArtist',
  'starred',
  'byYear',
  'byGenre',
] as const;
type ListType = (typeof LIST_TYPES)[number];

const YEAR_MAX = 9999;

/**
 * One page of an album list and, for `frequent`, each album's play count. Every list is
 * ordered by the service that owns its data: the catalog (names, years, genres, plays joined
 * with the stats service), the users service (stars, ratings) or history (recent plays).
 */
async function albumList(call: Call, deps: Deps): Promise<{ albums: Album[]; plays?: Map<string, number> }> {
  const { params, as } = call;
  const { catalog, history } = deps.services;
  const type = params.required('type');
  if (!(LIST_TYPES as readonly string[]).includes(type)) {
    throw new SubsonicError(SubsonicCodes.GENERIC, `type must be one of ${LIST_TYPES.join(', ')}`);
  }
  const size = params.int('size', 0, 500) ?? 10;
  const offset = params.int('offset', 0, 1_000_000) ?? 0;
  if (size === 0) return { albums: [] };
  const page = { limit: size, offset };
  const library = call.library;
  const byIds = (ids: string[]) => albumsByIds(deps, ids.slice(offset, offset + size), library);
  const list = async (query: Omit<ParamsOf<CatalogContract, 'listAlbums'>, 'limit' | 'offset'>) =>
    (await catalog.call('listAlbums', { ...query, ...page, library })).items;

  switch (type as ListType) {
    case 'random':
      return { albums: await list({ sort: 'random' }) };
    case 'newest':
      return { albums: await list({ sort: 'newest' }) };
    case 'alphabeticalByName':
      return { albums: await list({ sort: 'alphabetical' }) };
    case 'alphabeticalByArtist':
      return { albums: await list({ sort: 'artist' }) };
    case 'byGenre':
      return { albums: await list({ sort: 'alphabetical', genre: params.required('genre') }) };
    case 'byYear': {
      // fromYear after toYear asks for the latest years first, as the API says; the catalog does so.
      const fromYear = params.requiredInt('fromYear', 0, YEAR_MAX);
      const toYear = params.requiredInt('toYear', 0, YEAR_MAX);
      return { albums: await list({ sort: 'year', fromYear, toYear }) };
    }
    case 'starred':
      return { albums: await byIds((await call.starred()).albums.map((s) => s.id)) };
    case 'highest': {
      return { albums: await byIds((await call.ratings()).albums.map((r) => r.id)) };
    }
    case 'frequent': {
      const top = await orElse(
        catalog.call('topAlbums', { window: 'all', ...page, library }),
        [] as Array<Album & { plays: number }>,
        deps.log,
        'play counts',
      );
      return { albums: top, plays: new Map(top.map((a) => [a.id, a.plays])) };
    }
    case 'recent': {
      // The caller's own plays, newest first, as the albums they belong to.
      const recent = await orElse(
        history.call('recent', { limit: 500 }, as),
        [],
        deps.log,
        'listening history',
      );
      const trackIds = distinct(recent.map((p) => p.trackId));
      return {
        // Asked even without plays when a library is named: the catalog says if it may be used.
        albums:
          trackIds.length === 0 && library === undefined
            ? []
            : await catalog.call('albumsOfTracks', { trackIds, ...page, library }),
      };
    }
  }
  throw new SubsonicError(SubsonicCodes.GENERIC, `unknown list type ${type}`);
}

function searchQuery(raw: string): string {
  // Some players send query="" (with the quotes) to mean "everything".
  return raw
    .trim()
    .replace(/^"(.*)"$/, '$1')
    .trim();
}

/**
 * search3 and search2: a text search, or with an empty query (OpenSubsonic) pages through the whole
 * library, which players use to sync it.
 */
async function search(
  call: Call,
  deps: Deps,
  shapes: Shapes,
): Promise<{ artist: Body[]; album: Body[]; song: Body[] }> {
  const { params, library } = call;
  const { catalog } = deps.services;
  const q = searchQuery(params.given('query'));
  const window = (kind: 'artist' | 'album' | 'song', fallback: number) => ({
    count: params.int(`${kind}Count`, 0, 500) ?? fallback,
    offset: params.int(`${kind}Offset`, 0, 1_000_000) ?? 0,
  });
  const [artists, albums, songs] = [window('artist', 20), window('album', 20), window('song', 20)];
  const marks = await call.marks();
  let found: { artists: Body[]; albums: Body[]; songs: Body[] };
  if (q === '') {
    const list = async <T>(
      w: { count: number; offset: number },
      page: (limit: number, offset: number) => Promise<{ items: T[] }>,
    ) => (w.count === 0 ? [] : (await page(w.count, w.offset)).items);
    const [ar, al, tr] = await Promise.all([
      list(artists, (limit, offset) => catalog.call('listArtists', { limit, offset, library })),
      list(albums, (limit, offset) =>
        catalog.call('listAlbums', { sort: 'alphabetical', limit, offset, library }),
      ),
      list(songs, (limit, offset) => catalog.call('listTracks', { limit, offset, library })),
    ]);
    found = {
      artists: ar.map((a) => shapes.artist(a, marks)),
      albums: al.map((a) => shapes.album(a, marks)),
      songs: tr.map((t) => song(t, marks)),
    };
  } else {
    // The catalog ranks at most 100 of each kind; offsets page within those.
    const reach = Math.max(...[artists, albums, songs].map((w) => w.offset + w.count));
    const result =
      reach === 0
        ? { artists: [], albums: [], tracks: [] }
        : await catalog.call('search', { q: q.slice(0, 200), limit: Math.min(100, reach), library });
    const cut = <T>(items: T[], w: { count: number; offset: number }) =>
      items.slice(w.offset, w.offset + w.count);
    found = {
      artists: cut(result.artists, artists).map((a) => shapes.artist(a, marks)),
      albums: cut(result.albums, albums).map((a) => shapes.album(a, marks)),
      songs: cut(result.tracks, songs).map((t) => song(t, marks)),
    };
  }
  return { artist: found.artists, album: found.albums, song: found.songs };
}

/** How artists and albums look: ID3 (`search3`, `getStarred2`) or folders (`search2`, `getStarred`). */
interface Shapes {
  artist: (a: Artist, marks: Marks) => Body;
  album: (a: Album, marks: Marks) => Body;
}

const ID3: Shapes = { artist, album };
const FOLDERS: Shapes = { artist: artistFolder, album: albumFolder };

/** The caller's starred items, in the ID3 or the folder shapes. */
async function starred(call: Call, deps: Deps, shapes: Shapes): Promise<Body> {
  const [mine, marks] = await Promise.all([call.starred(), call.marks()]);
  const ids = (list: Array<{ id: string }>) => list.map((s) => s.id);
  const [artists, albums, tracks] = await Promise.all([
    artistsByIds(deps, ids(mine.artists), call.library),
    albumsByIds(deps, ids(mine.albums), call.library),
    tracksByIds(deps, ids(mine.songs), call.library),
  ]);
  return {
    artist: artists.map((a) => shapes.artist(a, marks)),
    album: albums.map((a) => shapes.album(a, marks)),
    song: tracks.map((t) => song(t, marks)),
  };
}

export const listEndpoints: Record<string, Endpoint> = {
  getAlbumList2: async (call, deps) => {
    const [{ albums, plays }, marks] = await Promise.all([albumList(call, deps), call.marks()]);
    return { albumList2: { album: albums.map((a) => album(a, marks, plays?.get(a.id))) } };
  },

  getAlbumList: async (call, deps) => {
    const [{ albums }, marks] = await Promise.all([albumList(call, deps), call.marks()]);
    return { albumList: { album: albums.map((a) => albumFolder(a, marks)) } };
  },

  getRandomSongs: async (call, deps) => {
    const { params } = call;
    const [tracks, marks] = await Promise.all([
      deps.services.catalog.call('randomTracks', {
        limit: params.int('size', 1, 500) ?? 10,
        genre: params.string('genre') || undefined,
        fromYear: params.int('fromYear', 0, YEAR_MAX),
        toYear: params.int('toYear', 0, YEAR_MAX),
        library: call.library,
      }),
      call.marks(),
    ]);
    return { randomSongs: { song: tracks.map((t) => song(t, marks)) } };
  },

  getSongsByGenre: async (call, deps) => {
    const { params } = call;
    const genre = params.required('genre');
    const count = params.int('count', 1, 500) ?? 10;
    const offset = params.int('offset', 0, 1_000_000) ?? 0;
    const [page, marks] = await Promise.all([
      deps.services.catalog.call('listTracks', { genre, limit: count, offset, library: call.library }),
      call.marks(),
    ]);
    return { songsByGenre: { song: page.items.map((t) => song(t, marks)) } };
  },

  search3: async (call, deps) => ({ searchResult3: await search(call, deps, ID3) }),

  search2: async (call, deps) => ({ searchResult2: await search(call, deps, FOLDERS) }),

  getStarred2: async (call, deps) => ({ starred2: await starred(call, deps, ID3) }),

  getStarred: async (call, deps) => ({ starred: await starred(call, deps, FOLDERS) }),
};
