import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CatalogContract } from '../common/contracts/catalog.js';
import { Events, type PlaylistChanged } from '../common/contracts/events.js';
import {
  PLAYLIST_MAX_TRACKS,
  type PlaylistDetail,
  playlistsContract,
} from '../common/contracts/playlists.js';
import type { Pool } from '../common/db/pool.js';
import { ErrorCodes } from '../common/errors.js';
import type { EventEnvelope } from '../common/events/envelope.js';
import type { RpcClient, ServiceClient } from '../common/rpc/client.js';
import type { Caller } from '../common/rpc/contract.js';
import type { RpcServer } from '../common/rpc/server.js';
import { rpcQueue } from '../common/rpc/wire.js';
import { playlistsService } from '../services/playlists/service.js';
import { connectBroker, eventually, testConfig } from './support/env.js';
import type { EventTap } from './support/event-tap.js';
import { fakeCatalogData, fakeCatalogHandlers, startFakeCatalog } from './support/fake-catalog.js';
import { ServiceHarness } from './support/service-harness.js';

const alice: Caller = { userId: 'u-alice', username: 'alice', admin: false };
const bob: Caller = { userId: 'u-bob', username: 'bob', admin: false };
const as = (caller: Caller) => ({ caller });

/** Track ids of a playlist in position order, checking positions are 0..n-1. */
function order(detail: PlaylistDetail): string[] {
  expect(detail.tracks.map((t) => t.position)).toEqual(detail.tracks.map((_, i) => i));
  expect(detail.trackCount).toBe(detail.tracks.length);
  return detail.tracks.map((t) => t.track.id);
}

describe('playlists service', () => {
  // A short RPC timeout so a catalog that does not answer fails the call quickly.
  const config = testConfig({ rpcTimeoutMs: 1000 });
  const data = fakeCatalogData();
  const durations = new Map(data.tracks.map((t) => [t.id, t.durationMs]));
  /** The ids of every catalog.getTracks call the playlists service made. */
  const getTracksCalls: string[][] = [];
  const catalogHandlers: ReturnType<typeof fakeCatalogHandlers> = (() => {
    const base = fakeCatalogHandlers(data);
    return {
      ...base,
      getTracks: (params, ctx) => {
        getTracksCalls.push(params.ids);
        return base.getTracks(params, ctx);
      },
    };
  })();
  let harness: ServiceHarness;
  let catalog: RpcServer<CatalogContract> | null = null;
  let rpc: RpcClient;
  let playlists: ServiceClient<typeof playlistsContract>;
  let pool: Pool;
  let tap: EventTap;

  const create = (name: string, extra: { public?: boolean; trackIds?: string[] } = {}, caller = alice) =>
    playlists.call('create', { name, ...extra }, as(caller));
  const get = (id: string, caller = alice) => playlists.call('get', { id }, as(caller));
  /** Every method that changes playlist `id`, with valid params. */
  const changesTo = (id: string) =>
    [
      ['rename', { id, name: 'mine now' }],
      ['setPublic', { id, public: true }],
      ['delete', { id }],
      ['addTracks', { id, trackIds: ['t1'] }],
      ['replaceTracks', { id, trackIds: ['t2'] }],
      ['removeTrack', { id, position: 0 }],
      ['removeTracks', { id, positions: [0] }],
      ['moveTrack', { id, from: 0, to: 0 }],
      ['update', { id, name: 'mine now', addTrackIds: ['t1'] }],
    ] as const;

  beforeAll(async () => {
    harness = await ServiceHarness.open(playlistsService, { config, events: [Events.playlistChanged.type] });
    ({ rpc, pool, tap } = harness);
    playlists = rpc.bind(playlistsContract);
    // The fake catalog has its own connection, as a separate service would.
    const catalogBroker = await connectBroker(harness.ns, 'fake-catalog');
    catalog = await startFakeCatalog(catalogBroker, catalogHandlers);
    harness.onClose(async () => {
      await catalog?.stop();
      await catalogBroker.close();
    });
  });

  afterAll(async () => {
    await harness?.close();
  });

  describe('create', () => {
    it('creates a private playlist owned by the caller, with catalog details and totals', async () => {
      const p = await create('Morning', { trackIds: ['t2', 't1', 't2'] });
      expect(p).toMatchObject({
        ownerId: alice.userId,
        ownerName: alice.username,
        name: 'Morning',
        public: false,
        trackCount: 3,
        durationMs: durations.get('t2')! * 2 + durations.get('t1')!,
      });
      expect(order(p)).toEqual(['t2', 't1', 't2']);
      expect(p.tracks[1]!.track).toEqual(data.tracks.find((t) => t.id === 't1'));
      expect(Date.parse(p.createdAt)).toBeGreaterThan(Date.now() - 60_000);
      await expect(get(p.id)).resolves.toEqual(p);
    });

    it('creates an empty public playlist and trims the name', async () => {
      const p = await create('  Shared  ', { public: true });
      expect(p).toMatchObject({ name: 'Shared', public: true, trackCount: 0, durationMs: 0, tracks: [] });
    });

    it('refuses unknown tracks with NotFoundError naming them, creating nothing', async () => {
      const before = await playlists.call('list', {}, as(alice));
      const err = await create('Bad', { trackIds: ['t1', 'nope1', 'nope2', 'nope1'] }).catch(
        (e: unknown) => e,
      );
      expect(err).toMatchObject({
        code: ErrorCodes.NOT_FOUND,
        message: 'unknown tracks: nope1, nope2',
        data: { trackIds: ['nope1', 'nope2'] },
      });
      await expect(playlists.call('list', {}, as(alice))).resolves.toEqual(before);
    });

    it.each([
      [{ name: '' }, /name: name must not be empty/],
      [{ name: '   ' }, /name: name must not be empty/],
      [{ name: 'x'.repeat(201) }, /name/],
      [{ name: 'ok', public: 'yes' }, /public/],
      [{ name: 'ok', trackIds: 't1' }, /trackIds/],
      [{ name: 'ok', owner: 'u-bob' }, /owner/],
    ])('rejects bad params %j with -32602', async (params, message) => {
      await expect(rpc.call('playlists', 'create', params, as(alice))).rejects.toMatchObject({
        code: ErrorCodes.INVALID_PARAMS,
        message: expect.stringMatching(message),
      });
    });
  });

  it("answers every change, and a list of nobody's playlists, with UnauthorizedError when nobody is logged in", async () => {
    const p = await create('Anyone?', { public: true, trackIds: ['t1'] });
    const calls: Array<[string, Record<string, unknown>]> = [
      ['create', { name: 'x' }],
      ['list', {}],
      ['rename', { id: p.id, name: 'y' }],
      ['setPublic', { id: p.id, public: false }],
      ['delete', { id: p.id }],
      ['addTracks', { id: p.id, trackIds: ['t2'] }],
      ['removeTrack', { id: p.id, position: 0 }],
      ['moveTrack', { id: p.id, from: 0, to: 0 }],
    ];
    for (const [method, params] of calls) {
      await expect(rpc.call('playlists', method, params), method).rejects.toMatchObject({
        code: ErrorCodes.UNAUTHORIZED,
      });
    }
    await expect(get(p.id)).resolves.toEqual(p);
  });

  it('shows public playlists to anyone, logged in or not, and private ones to their owner only', async () => {
    const owner: Caller = { userId: 'u-sharer', username: 'sharer', admin: false };
    const shared = await create('Shared', { public: true, trackIds: ['t1'] }, owner);
    const hidden = await create('Hidden', {}, owner);
    await expect(rpc.call('playlists', 'get', { id: shared.id })).resolves.toMatchObject({ id: shared.id });
    await expect(rpc.call('playlists', 'list', { ownerId: owner.userId })).resolves.toEqual([
      expect.objectContaining({ id: shared.id }),
    ]);
    await expect(rpc.call('playlists', 'get', { id: hidden.id })).rejects.toMatchObject({
      code: ErrorCodes.NOT_FOUND,
    });
  });

  describe('visibility and ownership', () => {
    it('lists the caller’s own playlists, and only the public ones of someone else', async () => {
      const owner: Caller = { userId: 'u-lister', username: 'lister', admin: false };
      const a = await create('A private', {}, owner);
      const b = await create('B public', { public: true }, owner);
      const mine = await playlists.call('list', {}, as(owner));
      expect(mine.map((p) => p.id)).toEqual([a.id, b.id]);
      const { tracks: _tracks, offset: _offset, limit: _limit, ...summary } = a;
      expect(mine[0]).toEqual(summary);
      await expect(playlists.call('list', { ownerId: owner.userId }, as(owner))).resolves.toEqual(mine);
      const seen = await playlists.call('list', { ownerId: owner.userId }, as(bob));
      expect(seen.map((p) => p.id)).toEqual([b.id]);
      await expect(playlists.call('list', { ownerId: 'u-nobody' }, as(bob))).resolves.toEqual([]);
    });

    it('hides a private playlist from others exactly like a missing one', async () => {
      const p = await create('Secret', { trackIds: ['t3'] });
      const hidden = await get(p.id, bob).catch((e: unknown) => e);
      const missing = await get('no-such-playlist', bob).catch((e: unknown) => e);
      expect(hidden).toMatchObject({ code: ErrorCodes.NOT_FOUND });
      expect(missing).toMatchObject({ code: ErrorCodes.NOT_FOUND });
      expect((hidden as Error).message.replace(p.id, 'ID')).toBe(
        (missing as Error).message.replace('no-such-playlist', 'ID'),
      );
      // Changes by others get the same answer, so they cannot probe for it either.
      for (const [method, params] of changesTo(p.id)) {
        await expect(rpc.call('playlists', method, params, as(bob)), method).rejects.toMatchObject({
          code: ErrorCodes.NOT_FOUND,
        });
      }
      await expect(get(p.id)).resolves.toEqual(p);
    });

    it('shows a public playlist to others but refuses their changes with ForbiddenError', async () => {
      const p = await create('Open', { public: true, trackIds: ['t1', 't2'] });
      await expect(get(p.id, bob)).resolves.toEqual(p);
      for (const [method, params] of changesTo(p.id)) {
        await expect(rpc.call('playlists', method, params, as(bob)), method).rejects.toMatchObject({
          code: ErrorCodes.FORBIDDEN,
        });
      }
      await expect(get(p.id)).resolves.toEqual(p);
    });
  });

  describe('rename, setPublic, delete', () => {
    it('renames and changes visibility for the owner', async () => {
      const p = await create('Old name');
      const renamed = await playlists.call('rename', { id: p.id, name: ' New name ' }, as(alice));
      expect(renamed).toMatchObject({ id: p.id, name: 'New name', public: false });
      expect(renamed).not.toHaveProperty('tracks');
      expect(Date.parse(renamed.updatedAt)).toBeGreaterThanOrEqual(Date.parse(p.updatedAt));
      const shared = await playlists.call('setPublic', { id: p.id, public: true }, as(alice));
      expect(shared).toMatchObject({ name: 'New name', public: true });
      await expect(get(p.id, bob)).resolves.toMatchObject({ name: 'New name', public: true });
      await playlists.call('setPublic', { id: p.id, public: false }, as(alice));
      await expect(get(p.id, bob)).rejects.toMatchObject({ code: ErrorCodes.NOT_FOUND });
    });

    it('deletes a playlist with its entries', async () => {
      const p = await create('Doomed', { trackIds: ['t1', 't2'] });
      await expect(playlists.call('delete', { id: p.id }, as(alice))).resolves.toEqual({ deleted: true });
      await expect(get(p.id)).rejects.toMatchObject({ code: ErrorCodes.NOT_FOUND });
      const { rowCount } = await pool.query('SELECT 1 FROM playlist_tracks WHERE playlist_id = $1', [p.id]);
      expect(rowCount).toBe(0);
      await expect(playlists.call('delete', { id: p.id }, as(alice))).rejects.toMatchObject({
        code: ErrorCodes.NOT_FOUND,
      });
    });

    it('answers NotFoundError for a playlist that does not exist', async () => {
      for (const [method, params] of [['get', { id: 'missing' }] as const, ...changesTo('missing')]) {
        await expect(rpc.call('playlists', method, params, as(alice)), method).rejects.toMatchObject({
          code: ErrorCodes.NOT_FOUND,
          message: expect.stringContaining('missing'),
        });
      }
    });
  });

  describe('editing tracks', () => {
    it('adds tracks at the end, at the start, in the middle and exactly at the end', async () => {
      const p = await create('Edit', { trackIds: ['t1', 't2'] });
      const add = (trackIds: string[], position?: number) =>
        playlists.call(
          'addTracks',
          { id: p.id, trackIds, ...(position === undefined ? {} : { position }) },
          as(alice),
        );
      expect(order(await add(['t3']))).toEqual(['t1', 't2', 't3']);
      expect(order(await add(['t4', 't5'], 0))).toEqual(['t4', 't5', 't1', 't2', 't3']);
      expect(order(await add(['t6'], 2))).toEqual(['t4', 't5', 't6', 't1', 't2', 't3']);
      const last = await add(['t1'], 6);
      expect(order(last)).toEqual(['t4', 't5', 't6', 't1', 't2', 't3', 't1']);
      expect(last.durationMs).toBe(order(last).reduce((sum, id) => sum + durations.get(id)!, 0));
    });

    it('replaces every track in one step, or changes nothing when a track is unknown', async () => {
      const p = await create('Replace', { trackIds: ['t1', 't2', 't3'] });
      const replace = (trackIds: string[]) =>
        playlists.call('replaceTracks', { id: p.id, trackIds }, as(alice));
      const replaced = await replace(['t5', 't4']);
      expect(order(replaced)).toEqual(['t5', 't4']);
      expect(replaced.tracks.map((e) => e.position)).toEqual([0, 1]);
      expect(replaced.trackCount).toBe(2);
      expect(replaced.durationMs).toBe(durations.get('t5')! + durations.get('t4')!);
      await expect(replace(['t1', 'ghost'])).rejects.toMatchObject({ code: ErrorCodes.NOT_FOUND });
      expect(order(await get(p.id))).toEqual(['t5', 't4']);
      const cleared = await replace([]);
      expect(cleared.trackCount).toBe(0);
      expect(cleared.tracks).toEqual([]);
      await expect(
        replace(['t1']).then(() => playlists.call('replaceTracks', { id: p.id, trackIds: ['t1'] }, as(bob))),
      ).rejects.toMatchObject({ code: ErrorCodes.NOT_FOUND });
    });

    it('refuses a position past the end, unknown tracks and an empty list, changing nothing', async () => {
      const p = await create('Strict', { trackIds: ['t1', 't2'] });
      await expect(
        playlists.call('addTracks', { id: p.id, trackIds: ['t3'], position: 3 }, as(alice)),
      ).rejects.toMatchObject({
        code: ErrorCodes.INVALID_INPUT,
        message: expect.stringContaining('2 tracks'),
      });
      await expect(
        playlists.call('addTracks', { id: p.id, trackIds: ['t3', 'ghost'] }, as(alice)),
      ).rejects.toMatchObject({ code: ErrorCodes.NOT_FOUND, message: 'unknown track: ghost' });
      await expect(
        rpc.call('playlists', 'addTracks', { id: p.id, trackIds: [] }, as(alice)),
      ).rejects.toMatchObject({
        code: ErrorCodes.INVALID_PARAMS,
        message: expect.stringContaining('trackIds'),
      });
      await expect(
        rpc.call('playlists', 'addTracks', { id: p.id, trackIds: ['t1'], position: -1 }, as(alice)),
      ).rejects.toMatchObject({
        code: ErrorCodes.INVALID_PARAMS,
        message: expect.stringContaining('position'),
      });
      await expect(
        rpc.call('playlists', 'addTracks', { id: p.id, trackIds: ['t1'], position: 1.5 }, as(alice)),
      ).rejects.toMatchObject({ code: ErrorCodes.INVALID_PARAMS });
      await expect(get(p.id)).resolves.toEqual(p);
    });

    it('removes the first, last and a middle track, and refuses positions out of range', async () => {
      const p = await create('Remove', { trackIds: ['t1', 't2', 't3', 't4', 't5'] });
      const remove = (position: number) => playlists.call('removeTrack', { id: p.id, position }, as(alice));
      expect(order(await remove(0))).toEqual(['t2', 't3', 't4', 't5']);
      expect(order(await remove(3))).toEqual(['t2', 't3', 't4']);
      expect(order(await remove(1))).toEqual(['t2', 't4']);
      await expect(remove(2)).rejects.toMatchObject({
        code: ErrorCodes.INVALID_INPUT,
        message: 'position 2 is out of range: the playlist has 2 tracks',
      });
      expect(order(await remove(1))).toEqual(['t2']);
      const empty = await remove(0);
      expect(empty).toMatchObject({ trackCount: 0, durationMs: 0, tracks: [] });
      await expect(remove(0)).rejects.toMatchObject({ code: ErrorCodes.INVALID_INPUT });
    });

    it('removes several positions at once, as they were before, all or none', async () => {
      const p = await create('Remove several', { trackIds: ['t1', 't2', 't3', 't4', 't5', 't1'] });
      const remove = (positions: number[]) =>
        playlists.call('removeTracks', { id: p.id, positions }, as(alice));
      expect(order(await remove([4, 0, 2, 2]))).toEqual(['t2', 't4', 't1']);
      await expect(remove([1, 3])).rejects.toMatchObject({
        code: ErrorCodes.INVALID_INPUT,
        message: 'position 3 is out of range: the playlist has 3 tracks',
      });
      expect(order(await get(p.id))).toEqual(['t2', 't4', 't1']);
      expect(await remove([0, 1, 2])).toMatchObject({ trackCount: 0, tracks: [] });
    });

    it('moves tracks forward, backward, to the ends and onto themselves', async () => {
      const p = await create('Move', { trackIds: ['t1', 't2', 't3', 't4'] });
      const move = (from: number, to: number) =>
        playlists.call('moveTrack', { id: p.id, from, to }, as(alice));
      expect(order(await move(0, 2))).toEqual(['t2', 't3', 't1', 't4']);
      expect(order(await move(3, 0))).toEqual(['t4', 't2', 't3', 't1']);
      expect(order(await move(1, 3))).toEqual(['t4', 't3', 't1', 't2']);
      expect(order(await move(2, 2))).toEqual(['t4', 't3', 't1', 't2']);
      await expect(move(4, 0)).rejects.toMatchObject({ code: ErrorCodes.INVALID_INPUT, message: /^from 4/ });
      await expect(move(0, 4)).rejects.toMatchObject({ code: ErrorCodes.INVALID_INPUT, message: /^to 4/ });
      await expect(
        rpc.call('playlists', 'moveTrack', { id: p.id, from: '1', to: 0 }, as(alice)),
      ).rejects.toMatchObject({ code: ErrorCodes.INVALID_PARAMS, message: expect.stringContaining('from') });
      expect(order(await get(p.id))).toEqual(['t4', 't3', 't1', 't2']);
    });

    it('matches a simple list model over a long random sequence of edits', async () => {
      const p = await create('Model');
      const model: string[] = [];
      let seed = 12345;
      const rand = (n: number) => {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        return seed % n;
      };
      const ids = data.tracks.map((t) => t.id);
      for (let step = 0; step < 60; step++) {
        const op = model.length === 0 ? 0 : rand(3);
        let detail: PlaylistDetail;
        if (op === 0) {
          const trackIds = Array.from({ length: 1 + rand(3) }, () => ids[rand(ids.length)]!);
          const position = rand(model.length + 1);
          model.splice(position, 0, ...trackIds);
          detail = await playlists.call('addTracks', { id: p.id, trackIds, position }, as(alice));
        } else if (op === 1) {
          const position = rand(model.length);
          model.splice(position, 1);
          detail = await playlists.call('removeTrack', { id: p.id, position }, as(alice));
        } else {
          const from = rand(model.length);
          const to = rand(model.length);
          model.splice(to, 0, ...model.splice(from, 1));
          detail = await playlists.call('moveTrack', { id: p.id, from, to }, as(alice));
        }
        expect(order(detail), `step ${step}`).toEqual(model);
      }
      const final = await get(p.id);
      expect(final.durationMs).toBe(model.reduce((sum, id) => sum + durations.get(id)!, 0));
    });
  });

  it('reads a playlist a page at a time, and answers a change with its first page', async () => {
    const ids = Array.from({ length: 1000 }, (_, i) => data.tracks[i % data.tracks.length]!.id);
    const p = await create('Long', { trackIds: ids });
    expect(p.tracks).toHaveLength(50);
    expect({ trackCount: p.trackCount, offset: p.offset, limit: p.limit }).toEqual({
      trackCount: 1000,
      offset: 0,
      limit: 50,
    });
    const page = await playlists.call('get', { id: p.id, offset: 990, limit: 20 }, as(alice));
    expect(page.tracks.map((e) => e.position)).toEqual([990, 991, 992, 993, 994, 995, 996, 997, 998, 999]);
    expect(page.tracks.map((e) => e.track.id)).toEqual(ids.slice(990));
    const added = await playlists.call('addTracks', { id: p.id, trackIds: ['t1'] }, as(alice));
    expect(added.tracks).toHaveLength(50);
    await expect(playlists.call('get', { id: p.id, limit: 501 }, as(alice))).rejects.toMatchObject({
      code: ErrorCodes.INVALID_PARAMS,
    });
    await expect(
      playlists.call('get', { id: p.id, offset: PLAYLIST_MAX_TRACKS + 1 }, as(alice)),
    ).rejects.toMatchObject({ code: ErrorCodes.INVALID_PARAMS });
  });

  it('holds at most PLAYLIST_MAX_TRACKS tracks', async () => {
    const p = await create('Full');
    const many = Array.from(
      { length: PLAYLIST_MAX_TRACKS },
      (_, i) => data.tracks[i % data.tracks.length]!.id,
    );
    await playlists.call('replaceTracks', { id: p.id, trackIds: many }, as(alice));
    await expect(
      playlists.call('addTracks', { id: p.id, trackIds: ['t1'] }, as(alice)),
    ).rejects.toMatchObject({
      code: ErrorCodes.INVALID_INPUT,
      message: `a playlist holds at most ${PLAYLIST_MAX_TRACKS} tracks`,
    });
    // The contract bounds the list and every position by the same maximum.
    await expect(
      playlists.call('replaceTracks', { id: p.id, trackIds: [...many, 't1'] }, as(alice)),
    ).rejects.toMatchObject({ code: ErrorCodes.INVALID_PARAMS });
    for (const position of [PLAYLIST_MAX_TRACKS + 1, 100_000]) {
      await expect(playlists.call('removeTrack', { id: p.id, position }, as(alice))).rejects.toMatchObject({
        code: ErrorCodes.INVALID_PARAMS,
      });
      await expect(
        playlists.call('addTracks', { id: p.id, trackIds: ['t1'], position }, as(alice)),
      ).rejects.toMatchObject({ code: ErrorCodes.INVALID_PARAMS });
    }
  });

  it('fetches track details with one catalog call per request', async () => {
    const p = await create('Calls', { trackIds: ['t1', 't2', 't1', 't3', 't2'] });
    getTracksCalls.length = 0;
    const detail = await get(p.id);
    expect(order(detail)).toEqual(['t1', 't2', 't1', 't3', 't2']);
    expect(getTracksCalls).toEqual([['t1', 't2', 't3']]);
    getTracksCalls.length = 0;
    await playlists.call('addTracks', { id: p.id, trackIds: ['t4'] }, as(alice));
    expect(getTracksCalls).toHaveLength(1);
    getTracksCalls.length = 0;
    await playlists.call('moveTrack', { id: p.id, from: 0, to: 5 }, as(alice));
    expect(getTracksCalls).toHaveLength(1);
  });

  it('leaves out tracks the catalog no longer has, keeping the others’ positions', async () => {
    const p = await create('Fading', { trackIds: ['t1', 't2', 't3'] });
    const t2 = data.tracks.findIndex((t) => t.id === 't2');
    const [removed] = data.tracks.splice(t2, 1);
    try {
      const detail = await get(p.id);
      expect(detail.tracks.map((e) => [e.position, e.track.id])).toEqual([
        [0, 't1'],
        [2, 't3'],
      ]);
      expect(detail.trackCount).toBe(3);
    } finally {
      data.tracks.splice(t2, 0, removed!);
    }
  });

  it('keeps positions contiguous under concurrent edits from two workers', async () => {
    await harness.startWorker();
    const p = await create('Busy');
    const ids = data.tracks.map((t) => t.id);
    const batches = Array.from({ length: 40 }, (_, i) => ids.slice(i % 5, (i % 5) + 1 + (i % 2)));
    const results = await Promise.all(
      batches.map((trackIds, i) =>
        playlists.call(
          'addTracks',
          { id: p.id, trackIds, ...(i % 3 === 0 ? { position: 0 } : {}) },
          as(alice),
        ),
      ),
    );
    for (const r of results) expect(r.tracks.map((e) => e.position)).toEqual(r.tracks.map((_, i) => i));
    const final = await playlists.call('get', { id: p.id, limit: 500 }, as(alice));
    const added = batches.flat();
    expect(order(final).sort()).toEqual([...added].sort());
    expect(final.trackCount).toBe(added.length);
    const { rows } = await pool.query<{ n: number; lo: number; hi: number }>(
      'SELECT count(*)::int AS n, min(position) AS lo, max(position) AS hi FROM playlist_tracks WHERE playlist_id = $1',
      [p.id],
    );
    expect(rows[0]).toEqual({ n: added.length, lo: 0, hi: added.length - 1 });
    // Each request saw the playlist grow by its own batch: no two edits interleaved.
    const counts = results.map((r) => r.trackCount).sort((a, b) => a - b);
    expect(new Set(counts).size).toBe(results.length);
  });

  it('publishes playlist.changed for every change through the outbox', async () => {
    const p = await create('Evented', { trackIds: ['t1'] });
    await playlists.call('rename', { id: p.id, name: 'Evented 2' }, as(alice));
    await playlists.call('setPublic', { id: p.id, public: true }, as(alice));
    await playlists.call('addTracks', { id: p.id, trackIds: ['t2', 't3'] }, as(alice));
    await playlists.call('removeTrack', { id: p.id, position: 0 }, as(alice));
    await playlists.call('moveTrack', { id: p.id, from: 0, to: 1 }, as(alice));
    await playlists.call('delete', { id: p.id }, as(alice));
    const mine = (e: EventEnvelope) => (e.data as PlaylistChanged).playlistId === p.id;
    const expected: PlaylistChanged[] = [
      { playlistId: p.id, ownerId: alice.userId, change: 'created', trackCount: 1 },
      { playlistId: p.id, ownerId: alice.userId, change: 'renamed', trackCount: 1 },
      { playlistId: p.id, ownerId: alice.userId, change: 'visibility', trackCount: 1 },
      { playlistId: p.id, ownerId: alice.userId, change: 'tracks', trackCount: 3 },
      { playlistId: p.id, ownerId: alice.userId, change: 'tracks', trackCount: 2 },
      { playlistId: p.id, ownerId: alice.userId, change: 'tracks', trackCount: 2 },
      { playlistId: p.id, ownerId: alice.userId, change: 'deleted' },
    ];
    // The outbox holds the events in the order of the changes...
    const { rows } = await pool.query<{ data: unknown }>(
      `SELECT envelope->'data' AS data FROM outbox WHERE envelope->'data'->>'playlistId' = $1 ORDER BY id`,
      [p.id],
    );
    expect(rows.map((r) => r.data)).toEqual(expected);
    // ...and every one of them reached the exchange (two workers' relays may interleave them).
    await eventually(() => tap.events.filter(mine).length === expected.length);
    const published = tap.events.filter(mine);
    expect(published.every((e) => e.type === Events.playlistChanged.type)).toBe(true);
    const byChange = (a: PlaylistChanged, b: PlaylistChanged) =>
      a.change.localeCompare(b.change) || (a.trackCount ?? 0) - (b.trackCount ?? 0);
    expect(published.map((e) => e.data as PlaylistChanged).sort(byChange)).toEqual(
      [...expected].sort(byChange),
    );
  });

  describe('update', () => {
    it('renames, changes visibility, removes and adds in one change', async () => {
      const p = await create('Several', { trackIds: ['t1', 't2', 't3'] });
      const updated = await playlists.call(
        'update',
        { id: p.id, name: 'Several 2', public: true, removePositions: [0, 2, 0], addTrackIds: ['t3', 't1'] },
        as(alice),
      );
      expect(updated).toMatchObject({ name: 'Several 2', public: true, trackCount: 3 });
      expect(order(updated)).toEqual(['t2', 't3', 't1']);
      await expect(get(p.id)).resolves.toEqual(updated);
      const changes = () =>
        tap.events
          .map((e) => e.data as PlaylistChanged)
          .filter((d) => d.playlistId === p.id && d.change !== 'created')
          .map((d) => d.change)
          .sort();
      await eventually(() => changes().length >= 3);
      expect(changes()).toEqual(['renamed', 'tracks', 'visibility']);
    });

    it('replaces every track with trackIds, with the name in the same change', async () => {
      const p = await create('Replace', { trackIds: ['t1', 't2'] });
      const updated = await playlists.call(
        'update',
        { id: p.id, name: 'Replaced', trackIds: ['t3'] },
        as(alice),
      );
      expect(updated).toMatchObject({ name: 'Replaced', trackCount: 1 });
      expect(order(updated)).toEqual(['t3']);
    });

    it.each([
      ['an unknown track', { addTrackIds: ['t1', 'nope'] }, ErrorCodes.NOT_FOUND],
      ['a position out of range', { removePositions: [0, 7] }, ErrorCodes.INVALID_INPUT],
    ])('changes nothing, not even the name, when one part fails (%s)', async (_what, part, code) => {
      const p = await create('All or none', { trackIds: ['t1', 't2'] });
      const before = await get(p.id);
      await expect(
        playlists.call('update', { id: p.id, name: 'half done', public: true, ...part }, as(alice)),
      ).rejects.toMatchObject({ code });
      await expect(get(p.id)).resolves.toEqual(before);
    });

    it("refuses someone else's playlist and an empty or mixed change", async () => {
      const p = await create('Not yours', { public: true, trackIds: ['t1'] });
      await expect(playlists.call('update', { id: p.id, name: 'mine' }, as(bob))).rejects.toMatchObject({
        code: ErrorCodes.FORBIDDEN,
      });
      await expect(rpc.call('playlists', 'update', { id: p.id }, as(alice))).rejects.toMatchObject({
        code: ErrorCodes.INVALID_PARAMS,
        message: expect.stringContaining('give at least one'),
      });
      await expect(
        rpc.call('playlists', 'update', { id: p.id, trackIds: ['t1'], addTrackIds: ['t2'] }, as(alice)),
      ).rejects.toMatchObject({
        code: ErrorCodes.INVALID_PARAMS,
        message: expect.stringContaining('trackIds'),
      });
      expect((await get(p.id)).name).toBe('Not yours');
    });
  });

  it('writes no event when a change fails', async () => {
    const p = await create('Quiet', { trackIds: ['t1'] });
    const count = async () =>
      (await pool.query(`SELECT 1 FROM outbox WHERE envelope->'data'->>'playlistId' = $1`, [p.id])).rowCount;
    expect(await count()).toBe(1);
    await playlists.call('removeTrack', { id: p.id, position: 5 }, as(alice)).catch(() => {});
    await playlists.call('rename', { id: p.id, name: 'x' }, as(bob)).catch(() => {});
    expect(await count()).toBe(1);
  });

  it('answers UnavailableError when the catalog does not answer, changing nothing', async () => {
    const p = await create('Offline', { trackIds: ['t1'] });
    await catalog!.stop();
    catalog = null;
    try {
      // The queue is still there but nobody consumes it: the call times out.
      await expect(
        playlists.call('addTracks', { id: p.id, trackIds: ['t2'] }, as(alice)),
      ).rejects.toMatchObject({ code: ErrorCodes.UNAVAILABLE, message: expect.stringContaining('catalog') });
      await expect(get(p.id)).rejects.toMatchObject({ code: ErrorCodes.UNAVAILABLE });
      // No queue at all: the request comes straight back.
      const ch = await harness.broker.channel();
      await ch.deleteQueue(harness.broker.name(rpcQueue('catalog')));
      await ch.close();
      await expect(playlists.call('removeTrack', { id: p.id, position: 0 }, as(alice))).rejects.toMatchObject(
        { code: ErrorCodes.UNAVAILABLE },
      );
      await expect(create('Needs catalog', { trackIds: ['t1'] })).rejects.toMatchObject({
        code: ErrorCodes.UNAVAILABLE,
      });
      // Changes that need no track details still work.
      await expect(
        playlists.call('rename', { id: p.id, name: 'Still here' }, as(alice)),
      ).resolves.toMatchObject({ name: 'Still here' });
    } finally {
      catalog = await startFakeCatalog(harness.broker, catalogHandlers);
    }
    expect(order(await get(p.id))).toEqual(['t1']);
  });
});
