import type { Album, Track } from '../../../common/contracts/catalog.js';
import {
  albumsByIds,
  artistsByIds,
  type Call,
  type Deps,
  distinct,
  type Endpoint,
  everything,
  orElse,
  tracksByIds,
} from '../context.js';
import { album, albumFolder, artist, type Stars, song } from '../models.js';
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
 * One page of an album list and, for `frequent`, each album's play count. Lists the catalog
 * cannot order itself are built from the whole album list (the catalog is a personal one).
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
  const page = (ids: string[]) => albumsByIds(deps, ids.slice(offset, offset + size));
  const all = () =>
    everything((limit, from) => catalog.call('listAlbums', { sort: 'year', limit, offset: from }));
  const sorted = async (sort: 'random' | 'newest' | 'alphabetical', genre?: string) =>
    (await catalog.call('listAlbums', { sort, limit: size, offset, ...(genre ? { genre } : {}) })).items;

  switch (type as ListType) {
    case 'random':
      return { albums: await sorted('random') };
    case 'newest':
      return { albums: await sorted('newest') };
    case 'alphabeticalByName':
      return { albums: await sorted('alphabetical') };
    case 'byGenre':
      return { albums: await sorted('alphabetical', params.required('genre')) };
    case 'alphabeticalByArtist': {
      const albums = (await all()).sort(
        (a, b) => a.artistName.localeCompare(b.artistName) || a.title.localeCompare(b.title),
      );
      return { albums: albums.slice(offset, offset + size) };
    }
    case 'byYear': {
      const from = params.requiredInt('fromYear', 0, YEAR_MAX);
      const to = params.requiredInt('toYear', 0, YEAR_MAX);
      const [low, high] = from <= to ? [from, to] : [to, from];
      const albums = (await all()).filter((a) => a.year !== null && a.year >= low && a.year <= high);
      // fromYear after toYear asks for the newest first, as the API says.
      if (from > to) albums.reverse();
      return { albums: albums.slice(offset, offset + size) };
    }
    case 'starred':
      return { albums: await page((await call.starred()).albums.map((s) => s.id)) };
    case 'frequent': {
      // Plays from the stats service, summed per album, most played first.
      const top = await orElse(
        catalog.call('topTracks', { window: 'all', limit: 100 }),
        [] as Array<Track & { plays: number }>,
        deps.log,
        'play counts',
      );
      const plays = new Map<string, number>();
      for (const t of top) plays.set(t.albumId, (plays.get(t.albumId) ?? 0) + t.plays);
      const ids = [...plays.entries()].sort((a, b) => b[1] - a[1]).map(([id]) => id);
      return { albums: await page(ids), plays };
    }
    case 'recent': {
      // The caller's own plays, newest first, as albums.
      const recent = await orElse(
        history.call('recent', { limit: 500 }, as),
        [],
        deps.log,
        'listening history',
      );
      const tracks = new Map(
        (await tracksByIds(deps, distinct(recent.map((p) => p.trackId)))).map((t) => [t.id, t]),
      );
      const ids = recent.flatMap((p) => {
        const t = tracks.get(p.trackId);
        return t ? [t.albumId] : [];
      });
      return { albums: await page(distinct(ids)) };
    }
    case 'highest':
      // Nothing is rated here, so nothing is highest rated.
      return { albums: [] };
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
 * search3: a text search, or with an empty query (OpenSubsonic) pages through the whole
 * library, which players use to sync it.
 */
async function search3(call: Call, deps: Deps): Promise<Body> {
  const { params } = call;
  const { catalog } = deps.services;
  const q = searchQuery(params.given('query'));
  const window = (kind: 'artist' | 'album' | 'song', fallback: number) => ({
    count: params.int(`${kind}Count`, 0, 500) ?? fallback,
    offset: params.int(`${kind}Offset`, 0, 1_000_000) ?? 0,
  });
  const [artists, albums, songs] = [window('artist', 20), window('album', 20), window('song', 20)];
  const stars = await call.stars();
  let found: { artists: Body[]; albums: Body[]; songs: Body[] };
  if (q === '') {
    const list = async <T>(
      w: { count: number; offset: number },
      page: (limit: number, offset: number) => Promise<{ items: T[] }>,
    ) => (w.count === 0 ? [] : (await page(w.count, w.offset)).items);
    const [ar, al, tr] = await Promise.all([
      list(artists, (limit, offset) => catalog.call('listArtists', { limit, offset })),
      list(albums, (limit, offset) => catalog.call('listAlbums', { sort: 'alphabetical', limit, offset })),
      list(songs, (limit, offset) => catalog.call('listTracks', { limit, offset })),
    ]);
    found = {
      artists: ar.map((a) => artist(a, stars)),
      albums: al.map((a) => album(a, stars)),
      songs: tr.map((t) => song(t, stars)),
    };
  } else {
    // The catalog ranks at most 100 of each kind; offsets page within those.
    const reach = Math.max(...[artists, albums, songs].map((w) => w.offset + w.count));
    const result =
      reach === 0
        ? { artists: [], albums: [], tracks: [] }
        : await catalog.call('search', { q: q.slice(0, 200), limit: Math.min(100, reach) });
    const cut = <T>(items: T[], w: { count: number; offset: number }) =>
      items.slice(w.offset, w.offset + w.count);
    found = {
      artists: cut(result.artists, artists).map((a) => artist(a, stars)),
      albums: cut(result.albums, albums).map((a) => album(a, stars)),
      songs: cut(result.tracks, songs).map((t) => song(t, stars)),
    };
  }
  return { searchResult3: { artist: found.artists, album: found.albums, song: found.songs } };
}

/** The caller's starred items, with `render` choosing the ID3 or the folder shape of albums. */
async function starred(call: Call, deps: Deps, renderAlbum: (a: Album, stars: Stars) => Body): Promise<Body> {
  const [mine, stars] = await Promise.all([call.starred(), call.stars()]);
  const [artists, albums, tracks] = await Promise.all([
    artistsByIds(
      deps,
      mine.artists.map((s) => s.id),
    ),
    albumsByIds(
      deps,
      mine.albums.map((s) => s.id),
    ),
    tracksByIds(
      deps,
      mine.songs.map((s) => s.id),
    ),
  ]);
  return {
    artist: artists.map((a) => artist(a, stars)),
    album: albums.map((a) => renderAlbum(a, stars)),
    song: tracks.map((t) => song(t, stars)),
  };
}

export const listEndpoints: Record<string, Endpoint> = {
  getAlbumList2: async (call, deps) => {
    const [{ albums, plays }, stars] = await Promise.all([albumList(call, deps), call.stars()]);
    return { albumList2: { album: albums.map((a) => album(a, stars, plays?.get(a.id))) } };
  },

  getAlbumList: async (call, deps) => {
    const [{ albums }, stars] = await Promise.all([albumList(call, deps), call.stars()]);
    return { albumList: { album: albums.map((a) => albumFolder(a, stars)) } };
  },

  getRandomSongs: async (call, deps) => {
    const { params } = call;
    const size = params.int('size', 1, 500) ?? 10;
    const genre = params.string('genre') || undefined;
    const from = params.int('fromYear', 0, YEAR_MAX);
    const to = params.int('toYear', 0, YEAR_MAX);
    const byYear = from !== undefined || to !== undefined;
    const inYears = (t: Track) =>
      !byYear || (t.year !== null && t.year >= (from ?? 0) && t.year <= (to ?? YEAR_MAX));
    // With a year range, draw the most the catalog gives and keep those in range.
    const [tracks, stars] = await Promise.all([
      deps.services.catalog.call('randomTracks', { limit: byYear ? 500 : size, ...(genre ? { genre } : {}) }),
      call.stars(),
    ]);
    return {
      randomSongs: {
        song: tracks
          .filter(inYears)
          .slice(0, size)
          .map((t) => song(t, stars)),
      },
    };
  },

  getSongsByGenre: async (call, deps) => {
    const { params } = call;
    const genre = params.required('genre');
    const count = params.int('count', 1, 500) ?? 10;
    const offset = params.int('offset', 0, 1_000_000) ?? 0;
    const [page, stars] = await Promise.all([
      deps.services.catalog.call('listTracks', { genre, limit: count, offset }),
      call.stars(),
    ]);
    return { songsByGenre: { song: page.items.map((t) => song(t, stars)) } };
  },

  search3,

  getStarred2: async (call, deps) => ({ starred2: await starred(call, deps, album) }),

  getStarred: async (call, deps) => ({ starred: await starred(call, deps, albumFolder) }),

  getNowPlaying: async (call, deps) => {
    const stars = await call.stars();
    const now = Date.now();
    return {
      nowPlaying: {
        entry: deps.nowPlaying.list().map((e) => ({
          ...song(e.track, stars),
          username: e.username,
          minutesAgo: Math.floor((now - e.startedAt) / 60_000),
          playerId: e.playerId,
          playerName: e.playerName,
        })),
      },
    };
  },
};
