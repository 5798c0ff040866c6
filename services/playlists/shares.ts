import {
  type CatalogContract,
  MAX_SHARES_PER_USER,
  type PlaylistsContract,
  SHARE_LIST_ENTRIES,
  SHARE_MAX_DAYS,
  type Share,
  sharePath,
  type Track,
} from '../../common/contracts/index.js';
import {
  type Caller,
  ForbiddenError,
  type Handlers,
  InvalidInputError,
  isAppError,
  LruCache,
  NotFoundError,
  type Pool,
  type ServiceClient,
  withTransaction,
} from '../../common/index.js';
import {
  countShares,
  deleteShare,
  findLiveShare,
  insertShare,
  listShares,
  playlistHolds,
  type ShareRow,
  updateShare,
} from './share-store.js';
import { findPlaylist, listEntries } from './store.js';
import { fromCatalog, TrackLookup } from './tracks.js';

type ShareMethods = 'createShare' | 'listShares' | 'updateShare' | 'deleteShare' | 'openShare' | 'shareTrack';

/** The same answer for an unknown, expired or deleted link: nothing tells them apart. */
const gone = () => new NotFoundError('this link has expired or does not exist');

/** What a share holds: its name, how many tracks, and the ids of one page of them. */
interface Content {
  name: string;
  trackCount: number;
  trackIds: string[];
}

/** An expiry must lie ahead, and not further than SHARE_MAX_DAYS. */
function checkExpiry(expiresAt: string | null | undefined): void {
  if (expiresAt === null || expiresAt === undefined) return;
  const at = Date.parse(expiresAt);
  const now = Date.now();
  if (at <= now) throw new InvalidInputError('expiresAt must be in the future', { expiresAt });
  if (at > now + SHARE_MAX_DAYS * 86_400_000) {
    throw new InvalidInputError(`expiresAt must be within ${SHARE_MAX_DAYS} days`, { expiresAt });
  }
}

export function shareHandlers({
  pool,
  catalog,
}: {
  pool: Pool;
  catalog: ServiceClient<CatalogContract>;
}): Pick<Handlers<PlaylistsContract>, ShareMethods> {
  // Which album a track is on, for the streams of a shared album: content, not access (the
  // share itself is read from the database on every request), so it may be a minute old.
  const albumOfTrack = new LruCache<string, string>(20_000, 60_000);

  /** The share's owner, as the one on whose behalf its content is read. */
  const ownerOf = (row: ShareRow): Caller => ({
    userId: row.owner_id,
    username: row.owner_name,
    admin: false,
  });

  /**
   * An album's title and track ids as `reader` sees it, or null when the catalog no longer has
   * it (or it is in a library the reader may not see).
   */
  async function album(id: string, reader: Caller): Promise<{ title: string; trackIds: string[] } | null> {
    try {
      const found = await fromCatalog(catalog.call('getAlbum', { id }, { caller: reader }));
      return { title: found.title, trackIds: found.tracks.map((t) => t.id) };
    } catch (err) {
      if (isAppError(err, 'NOT_FOUND')) return null;
      throw err;
    }
  }

  /** The tracks at `offset` (`limit` of them) of what a share holds, and its name. */
  async function content(row: ShareRow, page: { offset: number; limit: number }): Promise<Content> {
    let found: Content;
    if (row.kind === 'track') {
      // Named after the catalog answers (see `named`), so a listing asks for every track at once.
      found = {
        name: '',
        trackCount: 1,
        trackIds: [row.item_id].slice(page.offset, page.offset + page.limit),
      };
    } else if (row.kind === 'album') {
      const a = await album(row.item_id, ownerOf(row));
      const ids = a?.trackIds ?? [];
      found = {
        name: a?.title ?? '',
        trackCount: ids.length,
        trackIds: ids.slice(page.offset, page.offset + page.limit),
      };
    } else {
      const playlist = await findPlaylist(pool, row.item_id);
      const entries = playlist ? await listEntries(pool, row.item_id, page) : [];
      found = {
        name: playlist?.name ?? '',
        trackCount: playlist?.track_count ?? 0,
        trackIds: entries.map((e) => e.track_id),
      };
    }
    return found;
  }

  /** A shared track's name is its title, once the lookup has it. */
  const named = (row: ShareRow, found: Content, lookup: TrackLookup) =>
    row.kind === 'track' ? (lookup.get(row.item_id)?.title ?? '') : found.name;

  /** The tracks of `ids` the catalog still plays, in order. */
  async function playable(ids: readonly string[], lookup: TrackLookup): Promise<Track[]> {
    await lookup.load(ids);
    return ids.flatMap((id) => {
      const track = lookup.get(id);
      return track && !track.unavailable ? [track] : [];
    });
  }

  async function toShare(row: ShareRow, lookup: TrackLookup, known?: Content): Promise<Share> {
    const found = known ?? (await content(row, { offset: 0, limit: SHARE_LIST_ENTRIES }));
    const entries = await playable(found.trackIds, lookup);
    return {
      id: row.id,
      kind: row.kind,
      itemId: row.item_id,
      name: named(row, found, lookup),
      description: row.description,
      downloadable: row.downloadable,
      expiresAt: row.expires_at?.toISOString() ?? null,
      expired: row.expires_at !== null && row.expires_at.getTime() <= Date.now(),
      createdAt: row.created_at.toISOString(),
      lastVisitedAt: row.last_visited_at?.toISOString() ?? null,
      visitCount: row.visit_count,
      token: row.token,
      path: sharePath(row.token),
      ownerName: row.owner_name,
      trackCount: found.trackCount,
      entries,
    };
  }

  /**
   * Who may share what: a track or an album of a library they see (so a link never opens one
   * they may not read), and only their own playlists.
   */
  async function checkShareable(kind: ShareRow['kind'], id: string, caller: Caller): Promise<void> {
    const userId = caller.userId;
    if (kind === 'track') {
      const lookup = new TrackLookup(catalog, caller);
      await lookup.load([id]);
      lookup.requireKnown([id]);
    } else if (kind === 'album') {
      if (!(await album(id, caller))) throw new NotFoundError(`no album ${id}`);
    } else {
      const playlist = await findPlaylist(pool, id);
      // Someone else's private playlist answers as a missing one, as everywhere.
      if (!playlist || (!playlist.public && playlist.owner_id !== userId))
        throw new NotFoundError(`no playlist ${id}`);
      if (playlist.owner_id !== userId) throw new ForbiddenError('only your own playlists can be shared');
    }
  }

  /** Whether a live share's link may play `trackId`. */
  async function holds(row: ShareRow, trackId: string): Promise<boolean> {
    if (row.kind === 'track') return row.item_id === trackId;
    if (row.kind === 'playlist') return playlistHolds(pool, row.item_id, trackId);
    const albumId = await albumOfTrack.getOrLoad(trackId, async () => {
      const [track] = await fromCatalog(catalog.call('getTracks', { ids: [trackId] }));
      return { value: track?.albumId ?? '' };
    });
    return albumId === row.item_id;
  }

  return {
    async createShare(params, { caller }) {
      checkExpiry(params.expiresAt);
      await checkShareable(params.kind, params.id, caller);
      const row = await withTransaction(pool, async (client) => {
        // One owner's creations run one after another, so the cap holds under concurrency.
        await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`shares:${caller.userId}`]);
        if ((await countShares(client, caller.userId)) >= MAX_SHARES_PER_USER) {
          throw new InvalidInputError(
            `you have ${MAX_SHARES_PER_USER} shares, the most one may keep; delete some first`,
          );
        }
        return insertShare(client, {
          ownerId: caller.userId,
          ownerName: caller.username,
          kind: params.kind,
          itemId: params.id,
          description: params.description,
          downloadable: params.downloadable,
          expiresAt: params.expiresAt,
        });
      });
      return toShare(row, new TrackLookup(catalog, caller));
    },

    async listShares(_params, { caller }) {
      const rows = await listShares(pool, caller.userId, MAX_SHARES_PER_USER);
      const lookup = new TrackLookup(catalog, caller);
      // Every share's first entries are fetched from the catalog together, in as few calls as they need.
      const contents = await Promise.all(
        rows.map((row) => content(row, { offset: 0, limit: SHARE_LIST_ENTRIES })),
      );
      await lookup.load(contents.flatMap((c) => c.trackIds));
      return Promise.all(rows.map((row, i) => toShare(row, lookup, contents[i])));
    },

    async updateShare({ id, ...fields }, { caller }) {
      checkExpiry(fields.expiresAt);
      const row = await updateShare(pool, id, caller.userId, fields);
      if (!row) throw new NotFoundError(`no share ${id}`);
      return toShare(row, new TrackLookup(catalog, caller));
    },

    async deleteShare({ id }, { caller }) {
      if (!(await deleteShare(pool, id, caller.userId))) throw new NotFoundError(`no share ${id}`);
      return { deleted: true };
    },

    async openShare({ token, offset, limit, visit }) {
      const row = await findLiveShare(pool, token, visit);
      if (!row) throw gone();
      // What a link shows is what its owner sees now.
      const lookup = new TrackLookup(catalog, ownerOf(row));
      const found = await content(row, { offset, limit });
      const tracks = await playable(found.trackIds, lookup);
      return {
        kind: row.kind,
        name: named(row, found, lookup),
        description: row.description,
        ownerName: row.owner_name,
        downloadable: row.downloadable,
        expiresAt: row.expires_at?.toISOString() ?? null,
        trackCount: found.trackCount,
        tracks,
        offset,
        limit,
      };
    },

    async shareTrack({ token, trackId }) {
      const row = await findLiveShare(pool, token);
      if (!row) throw gone();
      if (!(await holds(row, trackId)))
        throw new ForbiddenError(`track ${trackId} is not part of this share`);
      return { shareId: row.id, trackId, downloadable: row.downloadable };
    },
  };
}
