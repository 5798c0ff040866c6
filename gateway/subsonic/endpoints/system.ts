import type { Endpoint } from '../context.js';

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
};
