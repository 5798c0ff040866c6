import type { Share, ShareKind } from '../../../common/contracts/index.js';
import type { Call, Deps, Endpoint } from '../context.js';
import { song } from '../models.js';
import { type Body, SubsonicCodes, SubsonicError } from '../response.js';

/** Latest `expires` accepted (ms since the epoch; the service bounds it further). */
const MAX_EPOCH_MS = 8_640_000_000_000;

/** `expires` (ms since the epoch) as the service's expiry: absent stays absent, 0 is never. */
function expiry(call: Call): string | null | undefined {
  const ms = call.params.int('expires', 0, MAX_EPOCH_MS);
  if (ms === undefined) return undefined;
  return ms === 0 ? null : new Date(ms).toISOString();
}

/** What one id names: a song, an album, or (failing both) a playlist, which the service checks. */
async function kindOf(deps: Deps, id: string): Promise<ShareKind> {
  const { catalog } = deps.services;
  if ((await catalog.call('getTracks', { ids: [id] })).length > 0) return 'track';
  if ((await catalog.call('getAlbums', { ids: [id] })).length > 0) return 'album';
  return 'playlist';
}

async function share(call: Call, s: Share): Promise<Body> {
  const marks = await call.marks();
  return {
    id: s.id,
    url: `${call.req.protocol}://${call.req.get('host')}${s.path}`,
    description: s.description,
    username: s.ownerName,
    created: s.createdAt,
    ...(s.expiresAt ? { expires: s.expiresAt } : {}),
    ...(s.lastVisitedAt ? { lastVisited: s.lastVisitedAt } : {}),
    visitCount: s.visitCount,
    entry: s.entries.map((t) => song(t, marks)),
  };
}

/** Share links (docs/SUBSONIC.md): one song, album or own playlist per share. */
export const shareEndpoints: Record<string, Endpoint> = {
  getShares: async (call, deps) => {
    const shares = await deps.services.playlists.call('listShares', {}, call.as);
    return { shares: { share: await Promise.all(shares.map((s) => share(call, s))) } };
  },

  createShare: async (call, deps) => {
    const ids = call.params.list('id');
    if (ids.length === 0) throw new SubsonicError(SubsonicCodes.MISSING_PARAMETER, 'missing parameter id');
    if (ids.length > 1) {
      throw new SubsonicError(
        SubsonicCodes.GENERIC,
        'a share holds one song, album or playlist: give one id',
      );
    }
    const id = ids[0]!;
    const created = await deps.services.playlists.call(
      'createShare',
      {
        kind: await kindOf(deps, id),
        id,
        description: call.params.string('description') ?? '',
        expiresAt: expiry(call) ?? null,
        downloadable: call.params.bool('downloadable') ?? false,
      },
      call.as,
    );
    return { shares: { share: [await share(call, created)] } };
  },

  updateShare: async (call, deps) => {
    const expiresAt = expiry(call);
    const description = call.params.string('description');
    await deps.services.playlists.call(
      'updateShare',
      {
        id: call.params.required('id'),
        ...(description === undefined ? {} : { description }),
        ...(expiresAt === undefined ? {} : { expiresAt }),
      },
      call.as,
    );
    return {};
  },

  deleteShare: async (call, deps) => {
    await deps.services.playlists.call('deleteShare', { id: call.params.required('id') }, call.as);
    return {};
  },
};
