import type { Endpoint } from '../context.js';
import { SubsonicCodes, SubsonicError } from '../response.js';

/**
 * OpenSubsonic extensions this server implements (answered without authentication), with the
 * endpoints each adds (a test checks that every one answers).
 */
export const EXTENSIONS: ReadonlyArray<{ name: string; versions: number[]; endpoints: string[] }> = [
  { name: 'apiKeyAuthentication', versions: [1], endpoints: ['tokenInfo'] },
  { name: 'formPost', versions: [1], endpoints: [] },
  { name: 'indexBasedQueue', versions: [1], endpoints: ['savePlayQueueByIndex', 'getPlayQueueByIndex'] },
  { name: 'playbackReport', versions: [1], endpoints: ['reportPlayback'] },
  { name: 'songLyrics', versions: [1], endpoints: ['getLyricsBySongId'] },
  { name: 'transcodeOffset', versions: [1], endpoints: [] },
  { name: 'topSongsByArtistId', versions: [1], endpoints: [] },
];

/** Features players look for at start-up that this server does not have: each is an empty list. */
const NOTHING_HERE: Record<string, Endpoint> = {
  getBookmarks: async () => ({ bookmarks: {} }),
  getPodcasts: async () => ({ podcasts: {} }),
  getNewestPodcasts: async () => ({ newestPodcasts: {} }),
  getInternetRadioStations: async () => ({ internetRadioStations: {} }),
  getShares: async () => ({ shares: {} }),
};

export const systemEndpoints: Record<string, Endpoint> = {
  ...NOTHING_HERE,

  ping: async () => ({}),

  /** The catalog is scanned when it is seeded or imported, never while players ask. */
  getScanStatus: async (_call, deps) => {
    const { total } = await deps.services.catalog.call('listTracks', { limit: 1 });
    return { scanStatus: { scanning: false, count: total } };
  },

  getLicense: async () => ({ license: { valid: true } }),

  /** The libraries the caller sees: what `musicFolderId` takes. */
  getMusicFolders: async (_call, deps) => {
    const libraries = await deps.services.catalog.call('listLibraries', {});
    return { musicFolders: { musicFolder: libraries.map((l) => ({ id: l.id, name: l.name })) } };
  },

  /** OpenSubsonic: which user an API key belongs to (works with any credentials). */
  tokenInfo: async ({ caller }) => ({ tokenInfo: { username: caller.username } }),

  /** There are no administrators: a user may read only their own account. */
  getUser: async ({ params, caller }, deps) => {
    const username = params.string('username') || caller.username;
    if (username.toLowerCase() !== caller.username.toLowerCase()) {
      throw new SubsonicError(SubsonicCodes.NOT_AUTHORIZED, 'you may only read your own account');
    }
    return {
      user: {
        username: caller.username,
        scrobblingEnabled: true,
        adminRole: false,
        settingsRole: false,
        downloadRole: true,
        uploadRole: false,
        playlistRole: true,
        coverArtRole: true,
        commentRole: false,
        podcastRole: false,
        streamRole: true,
        jukeboxRole: false,
        shareRole: false,
        videoConversionRole: false,
        folder: (await deps.services.catalog.call('listLibraries', {})).map((l) => l.id),
      },
    };
  },
};
