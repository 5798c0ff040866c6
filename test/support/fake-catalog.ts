import type { Broker } from '../../common/amqp/broker.js';
import type { Album, Artist, CatalogContract, Track } from '../../common/contracts/catalog.js';
import { catalogContract, DEFAULT_LIBRARY_ID } from '../../common/contracts/catalog.js';
import { ForbiddenError, NotFoundError } from '../../common/errors.js';
import type { Handlers } from '../../common/rpc/contract.js';
import { RpcServer } from '../../common/rpc/server.js';
import { silentLogger } from './env.js';

/**
 * An in-memory catalog serving the real catalog contract on the test namespace's
 * `rpc.catalog` queue, for services that call the catalog (playlists, gateway) in tests.
 * Two artists, three albums, six tracks; ids are stable (`t1`..`t6`).
 */
export interface FakeCatalogData {
  artists: Artist[];
  albums: Album[];
  tracks: Track[];
  /** Tracks whose files left the library: `getTracks` answers them only `withRemoved`. */
  removed?: Track[];
}

function track(
  n: number,
  title: string,
  album: Album,
  durationMs: number,
  genre: string | null = album.genre,
): Track {
  return {
    id: `t${n}`,
    title,
    albumId: album.id,
    albumTitle: album.title,
    artistId: album.artistId,
    artistName: album.artistName,
    number: n,
    durationMs,
    genre,
    year: album.year,
    mimeType: 'audio/wav',
    sizeBytes: Math.round(durationMs * 88.2),
  };
}

export function fakeCatalogData(): FakeCatalogData {
  const artists: Artist[] = [
    { id: 'ar1', name: 'The Blue Notes', albumCount: 2 },
    { id: 'ar2', name: 'Quiet Engines', albumCount: 1 },
  ];
  const album = (id: string, title: string, artist: Artist, year: number, genre: string): Album => ({
    id,
    title,
    artistId: artist.id,
    artistName: artist.name,
    year,
    genre,
    coverColor: '#3a6ea5',
    trackCount: 0,
    durationMs: 0,
    createdAt: new Date(Date.UTC(2024, 0, year - 2000)).toISOString(),
  });
  const albums = [
    album('al1', 'Blue Morning', artists[0]!, 2019, 'Jazz'),
    album('al2', 'Blue Evening', artists[0]!, 2021, 'Jazz'),
    album('al3', 'Idle Hum', artists[1]!, 2020, 'Ambient'),
  ];
  const tracks = [
    track(1, 'First Light', albums[0]!, 181_000),
    track(2, 'Coffee Steam', albums[0]!, 203_500),
    track(3, 'Dusk', albums[1]!, 240_250),
    track(4, 'Night Bus', albums[1]!, 199_000),
    track(5, 'Fan Noise', albums[2]!, 320_000),
    track(6, 'Server Room', albums[2]!, 95_000),
  ];
  for (const a of albums) {
    const own = tracks.filter((t) => t.albumId === a.id);
    a.trackCount = own.length;
    a.durationMs = own.reduce((sum, t) => sum + t.durationMs, 0);
  }
  return { artists, albums, tracks };
}

function page<T>(items: T[], limit: number, offset: number) {
  return { items: items.slice(offset, offset + limit), total: items.length, limit, offset, nextCursor: null };
}

export function fakeCatalogHandlers(data: FakeCatalogData = fakeCatalogData()): Handlers<CatalogContract> {
  const { artists, albums, tracks } = data;
  const need = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new NotFoundError(`no ${what}`);
    return value;
  };
  const byGenre = <T extends { genre: string | null }>(items: T[], genre?: string) =>
    genre ? items.filter((i) => i.genre?.toLowerCase() === genre.toLowerCase()) : items;
  const matches = (text: string, q: string) => text.toLowerCase().includes(q.toLowerCase());
  const tracksById = (ids: readonly string[], withRemoved: boolean) =>
    ids.flatMap((id) => {
      const found = tracks.filter((t) => t.id === id);
      if (found.length > 0 || !withRemoved) return found;
      return (data.removed ?? []).filter((t) => t.id === id).map((t): Track => ({ ...t, unavailable: true }));
    });
  return {
    listArtists: async ({ limit, offset }) => page(artists, limit, offset),
    getArtist: async ({ id }) => ({
      ...need(
        artists.find((a) => a.id === id),
        `artist ${id}`,
      ),
      albums: albums.filter((a) => a.artistId === id),
    }),
    getArtists: async ({ ids }) => ids.flatMap((id) => artists.filter((a) => a.id === id)),
    getAlbums: async ({ ids }) => ids.flatMap((id) => albums.filter((a) => a.id === id)),
    getAlbum: async ({ id }) => ({
      ...need(
        albums.find((a) => a.id === id),
        `album ${id}`,
      ),
      tracks: tracks.filter((t) => t.albumId === id),
    }),
    listAlbums: async ({ sort, genre, limit, offset }) => {
      const list = [...byGenre(albums, genre)];
      if (sort === 'alphabetical') list.sort((a, b) => a.title.localeCompare(b.title));
      if (sort === 'newest') list.sort((a, b) => b.createdAt.localeCompare(a.createdAt));
      if (sort === 'year') list.sort((a, b) => (a.year ?? 0) - (b.year ?? 0));
      return page(list, limit, offset);
    },
    listTracks: async ({ genre, limit, offset }) => page(byGenre(tracks, genre), limit, offset),
    getTrack: async ({ id }) =>
      need(
        tracks.find((t) => t.id === id),
        `track ${id}`,
      ),
    getTracks: async ({ ids, withRemoved }) => tracksById(ids, withRemoved),
    // Smart playlists run against the real catalog (test/smart-playlists.test.ts).
    matchTracks: async () => {
      throw new Error('the fake catalog does not run smart playlist rules');
    },
    getTrackFile: async ({ id }) => {
      const t = need(
        tracks.find((x) => x.id === id),
        `track ${id}`,
      );
      return {
        id,
        path: `/nonexistent/${id}.wav`,
        mimeType: t.mimeType,
        sizeBytes: t.sizeBytes,
        durationMs: t.durationMs,
      };
    },
    version: async () => ({ version: '1' }),
    listGenres: async () =>
      [...new Set(albums.map((a) => a.genre).filter((g): g is string => g !== null))].map((name) => ({
        name,
        albumCount: byGenre(albums, name).length,
        trackCount: byGenre(tracks, name).length,
      })),
    randomTracks: async ({ limit, genre }) => byGenre(tracks, genre).slice(0, limit),
    search: async ({ q, limit }) => ({
      artists: artists.filter((a) => matches(a.name, q)).slice(0, limit),
      albums: albums.filter((a) => matches(a.title, q)).slice(0, limit),
      tracks: tracks.filter((t) => matches(t.title, q)).slice(0, limit),
    }),
    // Nothing is ever played in the fake, so every count is zero and nothing is similar.
    topTracks: async ({ limit }) => tracks.slice(0, limit).map((t) => ({ ...t, plays: 0 })),
    artistIndex: async () => [{ name: 'A', artists }],
    artistInfo: async ({ id }) => ({
      artist: need(
        artists.find((a) => a.id === id),
        `artist ${id}`,
      ),
      similar: [],
    }),
    albumsOfTracks: async ({ trackIds, limit, offset }) =>
      [...new Set(trackIds.flatMap((id) => tracks.filter((t) => t.id === id).map((t) => t.albumId)))]
        .slice(offset, offset + limit)
        .flatMap((id) => albums.filter((a) => a.id === id)),
    topAlbums: async () => [],
    artistTopTracks: async () => [],
    similarTracks: async () => [],
    getLyrics: async () => null,
    findLyrics: async () => null,
    listLibraries: async () => [
      { id: DEFAULT_LIBRARY_ID, name: 'Music', albumCount: albums.length, trackCount: tracks.length },
    ],
    manageLibraries: refused,
    addLibrary: refused,
    updateLibrary: refused,
    removeLibrary: refused,
    grantLibrary: refused,
    revokeLibrary: refused,
    trackPaths: async () => [],
    // Everyone sees the one library.
    libraryAccess: async () => ({
      libraries: [{ id: DEFAULT_LIBRARY_ID, removed: false, everyone: true, ownerId: null, userIds: [] }],
    }),
    libraryTracks: async ({ ids }) =>
      tracksById(ids, true).map((t) => ({ ...t, libraryId: DEFAULT_LIBRARY_ID })),
  };
}

/** The fake catalog has one library, managed by nobody. */
const refused = async (): Promise<never> => {
  throw new ForbiddenError('the fake catalog has one library');
};

/** Starts a fake catalog on `broker`'s namespace; stop it with `stop()`. */
export async function startFakeCatalog(
  broker: Broker,
  handlers: Handlers<CatalogContract> = fakeCatalogHandlers(),
): Promise<RpcServer<CatalogContract>> {
  const server = new RpcServer({ broker, contract: catalogContract, handlers, logger: silentLogger });
  await server.start();
  return server;
}
