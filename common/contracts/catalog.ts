import { z } from 'zod';
import { defineContract, internalMethod, publicMethod } from '../rpc/contract.js';
import { id, ids, type Page, paging, windowParam } from './shared.js';

export interface Artist {
  id: string;
  name: string;
  albumCount: number;
}

export interface Album {
  id: string;
  title: string;
  artistId: string;
  artistName: string;
  year: number | null;
  genre: string | null;
  /** CSS colour of the generated cover, e.g. `#3a6ea5`. */
  coverColor: string;
  trackCount: number;
  durationMs: number;
  createdAt: string;
}

export interface Track {
  id: string;
  title: string;
  albumId: string;
  albumTitle: string;
  artistId: string;
  artistName: string;
  number: number | null;
  durationMs: number;
  genre: string | null;
  year: number | null;
  mimeType: string;
  sizeBytes: number;
}

export interface TrackFile {
  id: string;
  /** Absolute path of the audio file on this machine. */
  path: string;
  mimeType: string;
  sizeBytes: number;
}

export interface Genre {
  name: string;
  albumCount: number;
  trackCount: number;
}

export interface SearchResult {
  artists: Artist[];
  albums: Album[];
  tracks: Track[];
}

export const catalogContract = defineContract('catalog', {
  listArtists: publicMethod(z.strictObject({ ...paging })).returns<Page<Artist>>(),
  getArtist: publicMethod(z.strictObject({ id })).returns<Artist & { albums: Album[] }>(),
  /** Several artists at once, in the order asked; unknown ids are left out. */
  getArtists: publicMethod(z.strictObject({ ids: ids(1000) })).returns<Artist[]>(),
  getAlbum: publicMethod(z.strictObject({ id })).returns<Album & { tracks: Track[] }>(),
  /** Several albums at once (without their tracks), in the order asked; unknown ids are left out. */
  getAlbums: publicMethod(z.strictObject({ ids: ids(1000) })).returns<Album[]>(),
  listAlbums: publicMethod(
    z.strictObject({
      sort: z.enum(['newest', 'alphabetical', 'random', 'year']).default('alphabetical'),
      genre: z.string().max(100).optional(),
      ...paging,
    }),
  ).returns<Page<Album>>(),
  listTracks: publicMethod(z.strictObject({ genre: z.string().max(100).optional(), ...paging })).returns<
    Page<Track>
  >(),
  getTrack: publicMethod(z.strictObject({ id })).returns<Track>(),
  /** Several tracks at once, in the order asked; unknown ids are left out. */
  getTracks: publicMethod(z.strictObject({ ids: ids(1000) })).returns<Track[]>(),
  /** Where the audio of a track lives (a path on the server), for streaming. */
  getTrackFile: internalMethod(z.strictObject({ id })).returns<TrackFile>(),
  listGenres: publicMethod(z.strictObject({})).returns<Genre[]>(),
  randomTracks: publicMethod(
    z.strictObject({
      limit: z.number().int().min(1).max(500).default(10),
      genre: z.string().max(100).optional(),
    }),
  ).returns<Track[]>(),
  search: publicMethod(
    z.strictObject({
      q: z.string().trim().min(1, 'q must not be empty').max(200),
      limit: z.number().int().min(1).max(100).default(20),
    }),
  ).returns<SearchResult>(),
  /** Most played tracks (counts from the stats service), with their catalog details. */
  topTracks: publicMethod(
    z.strictObject({ window: windowParam, limit: z.number().int().min(1).max(100).default(10) }),
  ).returns<Array<Track & { plays: number }>>(),
});
export type CatalogContract = typeof catalogContract;
