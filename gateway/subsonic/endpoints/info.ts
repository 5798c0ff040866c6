import type { Artist, Track } from '../../../common/contracts/index.js';
import { coverId } from '../../covers.js';
import { type Call, type Deps, type Endpoint, orElse } from '../context.js';
import { artist, artistFolder, type Marks, song } from '../models.js';
import { type Body, elementText, missing, SubsonicCodes, SubsonicError } from '../response.js';

/** Sizes of the image URLs of artist and album info, in pixels (what last.fm's three sizes were near). */
const IMAGE_SIZES = { smallImageUrl: 64, mediumImageUrl: 174, largeImageUrl: 600 } as const;

/**
 * Image URLs of a cover. Players load them as they are, without credentials, so they point
 * at the public cover route of the REST API (catalog covers are public, like the catalog).
 */
function imageUrls(call: Call, cover: string): Body {
  const base = `${call.req.protocol}://${call.req.get('host')}/api/covers/${encodeURIComponent(cover)}`;
  return Object.fromEntries(
    Object.entries(IMAGE_SIZES).map(([field, size]) => [field, elementText(`${base}?size=${size}`)]),
  );
}

/**
 * Artist info for an artist, album or song id: no biography of our own, our cover art, and
 * similar artists from our own data (listeners in common, then shared genres).
 */
async function artistInfo(call: Call, deps: Deps, render: (a: Artist, marks: Marks) => Body): Promise<Body> {
  const id = call.params.required('id');
  const similarLimit = call.params.int('count', 0, 100) ?? 20;
  const [info, marks] = await Promise.all([
    deps.services.catalog.call('artistInfo', { id, similarLimit }),
    call.marks(),
  ]);
  return {
    biography: elementText(''),
    ...imageUrls(call, coverId.artist(info.artist.id)),
    similarArtist: info.similar.map((a) => render(a, marks)),
  };
}

/** Album info for an album or song id: no notes of our own, and the album's cover. */
async function albumInfo(call: Call, deps: Deps): Promise<Body> {
  const id = call.params.required('id');
  const { catalog } = deps.services;
  const [[album], [track]] = await Promise.all([
    catalog.call('getAlbums', { ids: [id] }),
    catalog.call('getTracks', { ids: [id] }),
  ]);
  const albumId = album?.id ?? track?.albumId;
  if (!albumId) throw new SubsonicError(SubsonicCodes.NOT_FOUND, `no album or song ${id}`);
  return { albumInfo: { notes: elementText(''), ...imageUrls(call, coverId.album(albumId)) } };
}

/** Songs similar to an artist's, an album's or a song's (`id`), `count` of them (50 by default). */
async function similarSongs(call: Call, deps: Deps): Promise<Body[]> {
  const id = call.params.required('id');
  const limit = call.params.int('count', 1, 500) ?? 50;
  const [tracks, marks] = await Promise.all([
    deps.services.catalog.call('similarTracks', { id, limit }),
    call.marks(),
  ]);
  return tracks.map((t) => song(t, marks));
}

export const infoEndpoints: Record<string, Endpoint> = {
  getArtistInfo: async (call, deps) => ({ artistInfo: await artistInfo(call, deps, artistFolder) }),

  getArtistInfo2: async (call, deps) => ({ artistInfo2: await artistInfo(call, deps, artist) }),

  getAlbumInfo: albumInfo,

  getAlbumInfo2: albumInfo,

  /**
   * An artist's most played songs (our play counts), by name or (OpenSubsonic
   * `topSongsByArtistId`) by `id`, which wins when both are given.
   */
  getTopSongs: async (call, deps) => {
    const { params } = call;
    const artistId = params.string('id') || undefined;
    const artistName = params.string('artist')?.trim() || undefined;
    const limit = params.int('count', 1, 500) ?? 50;
    if (!artistId && !artistName) throw missing('artist (or id)');
    const query = artistId ? { artistId, limit } : { artistName: artistName!.slice(0, 200), limit };
    const [tracks, marks] = await Promise.all([
      orElse(
        deps.services.catalog.call('artistTopTracks', query),
        [] as Array<Track & { plays: number }>,
        deps.log,
        'play counts',
      ),
      call.marks(),
    ]);
    return { topSongs: { song: tracks.map((t) => ({ ...song(t, marks), playCount: t.plays })) } };
  },

  getSimilarSongs: async (call, deps) => ({ similarSongs: { song: await similarSongs(call, deps) } }),

  getSimilarSongs2: async (call, deps) => ({ similarSongs2: { song: await similarSongs(call, deps) } }),
};
