import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { catalogContract, type Track } from '../common/contracts/catalog.js';
import { playlistsContract } from '../common/contracts/playlists.js';
import type { SmartRulesInput } from '../common/contracts/smart.js';
import { usersContract } from '../common/contracts/users.js';
import { ErrorCodes, isAppError } from '../common/errors.js';
import type { ServiceClient } from '../common/rpc/client.js';
import { matchesWithoutListening } from '../services/catalog/smart.js';
import { eventually } from './support/env.js';
import { type Account, type Json, subsonicClient } from './support/subsonic-client.js';
import { type SubsonicHarness, startSubsonic } from './support/subsonic-harness.js';

/**
 * Smart playlists against the real catalog (seeded), users and playlists services: their
 * tracks are checked against a query the test computes itself from the seeded catalog and the
 * plays and stars it makes, before and after them (plays reach the playlists service through
 * the event log, scrobbled through the Subsonic API).
 */

let h: SubsonicHarness;
let users: ServiceClient<typeof usersContract>;
let playlists: ServiceClient<typeof playlistsContract>;
let tracks: Track[];
let alice: Account;
let bob: Account;

const { account, token, json, fails, origin } = subsonicClient(
  () => h.url,
  () => users,
);

/** What the test knows of alice's listening: plays per track and stars. */
const plays = new Map<string, number>();
const starred = new Set<string>();
let clock = Date.now() - 3_600_000;

async function scrobble(who: Account, trackId: string, times: number, count = who === alice) {
  for (let i = 0; i < times; i++) {
    clock += 1000;
    expect((await json('scrobble', { ...token(who), id: trackId, time: clock })).status).toBe('ok');
    if (count) plays.set(trackId, (plays.get(trackId) ?? 0) + 1);
  }
}

/** Every track of a playlist, in order, through pages of `get`. */
async function contents(id: string, who = alice): Promise<string[]> {
  const first = await playlists.call('get', { id, limit: 100 }, { caller: who.caller });
  const all = [...first.tracks];
  for (let offset = 100; offset < first.trackCount; offset += 100) {
    all.push(...(await playlists.call('get', { id, offset, limit: 100 }, { caller: who.caller })).tracks);
  }
  expect(all.map((e) => e.position)).toEqual(all.map((_, i) => i));
  return all.map((e) => e.track.id);
}

/** Ties of an order are broken by track id, as the catalog does (byte order of plain ids). */
const byId = (a: Track, b: Track) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
const playsOf = (t: Track) => plays.get(t.id) ?? 0;

beforeAll(async () => {
  h = await startSubsonic();
  users = h.rpc.bind(usersContract);
  playlists = h.rpc.bind(playlistsContract);
  const catalog = h.rpc.bind(catalogContract);
  tracks = (await catalog.call('listTracks', { limit: 500 })).items;
  expect(tracks.length).toBeGreaterThan(20);
  alice = await account('alice');
  bob = await account('bob');
}, 120_000);

afterAll(async () => {
  await h?.close();
});

describe('smart playlists', () => {
  it('hold what an independent query over the catalog and the listening picks, before and after plays', async () => {
    // The most common genre, and the years of its tracks.
    const genres = new Map<string, number>();
    for (const t of tracks) if (t.genre) genres.set(t.genre, (genres.get(t.genre) ?? 0) + 1);
    const genre = [...genres.entries()].sort((a, b) => b[1] - a[1])[0]![0];
    const years = tracks
      .map((t) => t.year)
      .filter((y): y is number => y !== null)
      .sort((a, b) => a - b);
    const [fromYear, toYear] = [years[Math.floor(years.length / 4)]!, years[Math.floor(years.length / 2)]!];
    const letter = tracks[0]!.artistName.toLowerCase().slice(1, 3);

    // Not yet played of the genre, most played first (every count 0 before the plays).
    const unplayedRules: SmartRulesInput = {
      rule: {
        all: [
          { field: 'genre', op: 'is', value: genre.toUpperCase() },
          { field: 'lastPlayed', op: 'notInTheLast', value: 30 },
        ],
      },
      sort: 'playCount',
      order: 'desc',
      limit: 1000,
    };
    const unplayed = () =>
      tracks.filter((t) => t.genre?.toLowerCase() === genre.toLowerCase() && playsOf(t) === 0).sort(byId);
    // Played more than once, or starred, or of some years by an artist whose name holds `letter`.
    const mixedRules: SmartRulesInput = {
      rule: {
        any: [
          { field: 'playCount', op: 'gt', value: 1 },
          { field: 'starred', op: 'is', value: true },
          {
            all: [
              { field: 'year', op: 'inRange', value: [fromYear, toYear] },
              { field: 'artist', op: 'contains', value: letter },
            ],
          },
        ],
      },
      sort: 'playCount',
      order: 'desc',
      limit: 25,
    };
    const mixed = () =>
      tracks
        .filter(
          (t) =>
            playsOf(t) > 1 ||
            starred.has(t.id) ||
            (t.year !== null &&
              t.year >= fromYear &&
              t.year <= toYear &&
              t.artistName.toLowerCase().includes(letter)),
        )
        .sort((a, b) => playsOf(b) - playsOf(a) || byId(a, b))
        .slice(0, 25);

    const a = await playlists.call(
      'createSmart',
      { name: 'unplayed', rules: unplayedRules },
      { caller: alice.caller },
    );
    const b = await playlists.call(
      'createSmart',
      { name: 'mixed', rules: mixedRules },
      { caller: alice.caller },
    );
    expect(a.rules).toMatchObject(unplayedRules);
    expect(unplayed().length).toBeGreaterThan(2);
    expect(await contents(a.id)).toEqual(unplayed().map((t) => t.id));
    expect(await contents(b.id)).toEqual(mixed().map((t) => t.id));

    // Plays of two tracks of the genre (one twice), a star, and bob's plays (not alice's).
    const ofGenre = unplayed();
    const [twice, once] = [ofGenre[0]!, ofGenre[1]!];
    const notInMixed = tracks.find((t) => !mixed().includes(t) && t.id !== twice.id && t.id !== once.id)!;
    await scrobble(alice, twice.id, 2);
    await scrobble(alice, once.id, 1);
    await scrobble(bob, notInMixed.id, 3);
    expect((await json('star', { ...token(alice), id: notInMixed.id })).status).toBe('ok');
    starred.add(notInMixed.id);

    await eventually(async () => {
      const [gotA, gotB] = [await contents(a.id), await contents(b.id)];
      return (
        JSON.stringify(gotA) === JSON.stringify(unplayed().map((t) => t.id)) &&
        JSON.stringify(gotB) === JSON.stringify(mixed().map((t) => t.id))
      );
    }, 20_000);
    expect(await contents(a.id)).not.toContain(twice.id);
    const nowMixed = await contents(b.id);
    expect(nowMixed[0]).toBe(twice.id);
    expect(nowMixed).toContain(notInMixed.id);

    // The list shows what the rules pick now.
    const listed = await playlists.call('list', {}, { caller: alice.caller });
    expect(listed.find((p) => p.id === a.id)).toMatchObject({ trackCount: unplayed().length });
    expect(listed.find((p) => p.id === b.id)).toMatchObject({
      trackCount: mixed().length,
      durationMs: mixed().reduce((s, t) => s + t.durationMs, 0),
    });

    // New rules take effect at once.
    const recent = await playlists.call(
      'setRules',
      {
        id: a.id,
        rules: { rule: { any: [{ field: 'lastPlayed', op: 'inTheLast', value: 1 }] }, sort: 'title' },
      },
      { caller: alice.caller },
    );
    expect(recent.tracks.map((e) => e.track.id).sort()).toEqual([twice.id, once.id].sort());
  }, 60_000);

  it('knows which rules only listened-to tracks can match (those read the listening, not the catalog)', () => {
    const c = (field: string, op: string, value: unknown) => ({ field, op, value }) as never;
    expect(matchesWithoutListening({ any: [c('playCount', 'gt', 3), c('starred', 'is', true)] })).toBe(false);
    expect(matchesWithoutListening({ all: [c('genre', 'is', 'jazz'), c('rating', 'inRange', [4, 5])] })).toBe(
      false,
    );
    expect(matchesWithoutListening({ all: [c('lastPlayed', 'inTheLast', 7)] })).toBe(false);
    // Never played, rated or starred tracks match these (or may, by their catalog fields).
    expect(matchesWithoutListening({ all: [c('lastPlayed', 'notInTheLast', 7)] })).toBe(true);
    expect(matchesWithoutListening({ all: [c('playCount', 'lt', 1), c('starred', 'is', false)] })).toBe(true);
    expect(matchesWithoutListening({ any: [c('playCount', 'gt', 3), c('genre', 'is', 'jazz')] })).toBe(null);
    expect(matchesWithoutListening({ all: [c('year', 'gt', 1990)] })).toBe(null);
  });

  it('refuses rules it cannot run, saying what is wrong', async () => {
    const refused = async (rules: unknown): Promise<string> => {
      const err = await playlists
        .call('createSmart', { name: 'bad', rules } as never, { caller: alice.caller })
        .then(
          () => null,
          (e: unknown) => e,
        );
      expect(isAppError(err, 'INVALID_PARAMS')).toBe(true);
      return (err as Error).message;
    };
    expect(await refused({ rule: { all: [{ field: 'colour', op: 'is', value: 'red' }] } })).toMatch(
      /rule\.all\.0\.field.*genre/,
    );
    expect(await refused({ rule: { all: [{ field: 'genre', op: 'gt', value: 'x' }] } })).toMatch(
      /rule\.all\.0\.op.*contains/,
    );
    expect(await refused({ rule: { all: [{ field: 'year', op: 'inRange', value: [2000, 1990] }] } })).toMatch(
      /lower to its upper bound/,
    );
    expect(await refused({ rule: { all: [] } })).toMatch(/rule\.all: a group needs a rule/);
    expect(await refused({ rule: { field: 'genre', op: 'is', value: 'x' } })).toMatch(/rule is a group/);
    const deep = { all: [{ all: [{ all: [{ all: [{ field: 'year', op: 'is', value: 1 }] }] }] }] };
    expect(await refused({ rule: deep })).toMatch(/at most 3 deep/);
    const many = Array.from({ length: 3 }, () => ({
      any: Array.from({ length: 20 }, () => ({ field: 'year', op: 'is', value: 1 })),
    }));
    expect(await refused({ rule: { all: many } })).toMatch(/at most 50 conditions/);
    expect(await refused({ rule: { all: [{ field: 'year', op: 'is', value: 1 }] }, limit: 5000 })).toMatch(
      /limit/,
    );
  });

  it('is read-only in Subsonic and over RPC, but may be renamed and deleted', async () => {
    const rules = {
      rule: { all: [{ field: 'year', op: 'gt', value: 0 }] },
      sort: 'year',
      limit: 10,
    } as const;
    const smart = await playlists.call('createSmart', { name: 'years', rules }, { caller: alice.caller });
    const expected = tracks
      .filter((t) => t.year !== null && t.year > 0)
      .sort((a, b) => a.year! - b.year! || byId(a, b))
      .slice(0, 10)
      .map((t) => t.id);

    const listed = (await json('getPlaylists', token(alice))).playlists.playlist as Json[];
    expect(listed.find((p) => p.id === smart.id)).toMatchObject({
      readonly: true,
      songCount: 10,
      name: 'years',
    });
    const got = (await json('getPlaylist', { ...token(alice), id: smart.id })).playlist;
    expect(got.readonly).toBe(true);
    expect(got.entry.map((e: Json) => e.id)).toEqual(expected);

    const refusal = /smart playlist: its tracks follow its rules/;
    expect(
      await fails(
        'updatePlaylist',
        { ...token(alice), playlistId: smart.id, songIdToAdd: tracks[0]!.id },
        50,
      ),
    ).toMatch(refusal);
    expect(
      await fails('updatePlaylist', { ...token(alice), playlistId: smart.id, songIndexToRemove: 0 }, 50),
    ).toMatch(refusal);
    expect(
      await fails('createPlaylist', { ...token(alice), playlistId: smart.id, songId: tracks[0]!.id }, 50),
    ).toMatch(refusal);
    for (const [method, params] of [
      ['addTracks', { id: smart.id, trackIds: [tracks[0]!.id] }],
      ['replaceTracks', { id: smart.id, trackIds: [] }],
      ['removeTrack', { id: smart.id, position: 0 }],
      ['moveTrack', { id: smart.id, from: 0, to: 1 }],
      ['update', { id: smart.id, name: 'half', addTrackIds: [tracks[0]!.id] }],
    ] as const) {
      const err = await playlists.call(method, params as never, { caller: alice.caller }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(isAppError(err, 'FORBIDDEN'), method).toBe(true);
      expect((err as Error).message).toMatch(refusal);
    }
    const unchanged = (await json('getPlaylist', { ...token(alice), id: smart.id })).playlist;
    expect(unchanged.entry.map((e: Json) => e.id)).toEqual(expected);
    // A refused change is refused whole: the rename asked for with it is not made.
    expect(unchanged.name).toBe('years');

    // Only the owner changes it; its name and visibility may change, and it may go.
    const err = await playlists.call('setRules', { id: smart.id, rules }, { caller: bob.caller }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(isAppError(err, 'NOT_FOUND')).toBe(true);
    expect(
      (await json('updatePlaylist', { ...token(alice), playlistId: smart.id, name: 'renamed' })).status,
    ).toBe('ok');
    expect((await json('getPlaylist', { ...token(alice), id: smart.id })).playlist.name).toBe('renamed');
    // Rules on an ordinary playlist are refused.
    const plain = await playlists.call('create', { name: 'plain' }, { caller: alice.caller });
    const notSmart = await playlists.call('setRules', { id: plain.id, rules }, { caller: alice.caller }).then(
      () => null,
      (e: unknown) => e,
    );
    expect((notSmart as { code?: number }).code).toBe(ErrorCodes.INVALID_INPUT);
    expect((await json('deletePlaylist', { ...token(alice), id: smart.id })).status).toBe('ok');
  });

  it("imports Navidrome's .nsp files where the fields map, and names what does not", async () => {
    const nsp = {
      name: 'Jazz of the 90s',
      comment: 'from Navidrome',
      all: [
        { is: { genre: 'Jazz' } },
        { inTheRange: { year: [1990, 1999] } },
        { notInTheLast: { lastPlayed: 365 } },
        { any: [{ is: { loved: true } }, { gt: { playCount: '2' } }, { contains: { albumartist: 'Trio' } }] },
        { after: { dateAdded: '2020-01-31' } },
        { isNot: { rating: 1 } },
      ],
      sort: '-playcount,title',
      limit: 5000,
    };
    const made = await playlists.call('importNsp', { nsp: JSON.stringify(nsp) }, { caller: alice.caller });
    expect(made.name).toBe('Jazz of the 90s');
    expect(made.rules).toEqual({
      rule: {
        all: [
          { field: 'genre', op: 'is', value: 'Jazz' },
          { field: 'year', op: 'inRange', value: [1990, 1999] },
          { field: 'lastPlayed', op: 'notInTheLast', value: 365 },
          {
            any: [
              { field: 'starred', op: 'is', value: true },
              { field: 'playCount', op: 'gt', value: 2 },
              { field: 'artist', op: 'contains', value: 'Trio' },
            ],
          },
          { field: 'addedAt', op: 'after', value: '2020-01-31' },
          { field: 'rating', op: 'isNot', value: 1 },
        ],
      },
      sort: 'playCount',
      order: 'desc',
      limit: 1000,
    });

    const refusal = async (text: string) => {
      const err = await playlists.call('importNsp', { nsp: text, name: 'x' }, { caller: alice.caller }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(isAppError(err, 'INVALID_INPUT')).toBe(true);
      return (err as Error).message;
    };
    const unmapped = await refusal(
      JSON.stringify({
        any: [{ gt: { bpm: 120 } }, { startsWith: { title: 'A' } }, { is: { genre: 'Rock' } }],
      }),
    );
    expect(unmapped).toMatch(/field "bpm" has no counterpart/);
    expect(unmapped).toMatch(/operator "startsWith" has no counterpart/);
    expect(await refusal('{"all": [')).toMatch(/not valid JSON/);
    expect(await refusal('{"sort": "title"}')).toMatch(/no rules/);
    expect(await refusal(JSON.stringify({ all: [{ is: { year: 'nineteen' } }] }))).toMatch(
      /rule\.all\.0\.value/,
    );
  });

  it('are made, changed and imported over REST and from the terminal client', async () => {
    const session = await users.call('login', { username: alice.user.username, password: alice.password });
    const rest = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${origin()}${path}`, {
        method,
        headers: { authorization: `Bearer ${session.token}`, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: res.status, body: (await res.json()) as Json };
    };
    const rules = { rule: { any: [{ field: 'year', op: 'lt', value: 3000 }] }, sort: 'title', limit: 3 };
    const made = await rest('POST', '/api/playlists/smart', { name: 'rest smart', rules });
    expect(made.status).toBe(201);
    expect(made.body).toMatchObject({ name: 'rest smart', trackCount: 3, rules });
    const bad = await rest('POST', '/api/playlists/smart', {
      name: 'bad',
      rules: { rule: { all: [{ field: 'year' }] } },
    });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toMatch(/rule\.all\.0/);
    const changed = await rest('PUT', `/api/playlists/${made.body.id}/rules`, { ...rules, limit: 5 });
    expect(changed.status).toBe(200);
    expect(changed.body.trackCount).toBe(5);
    const added = await rest('POST', `/api/playlists/${made.body.id}/tracks`, { trackIds: [tracks[0]!.id] });
    expect(added.status).toBe(403);
    const imported = await rest('POST', '/api/playlists/import-nsp', {
      nsp: JSON.stringify({ name: 'from nsp', all: [{ gt: { year: 0 } }], sort: 'year', limit: 2 }),
    });
    expect(imported.status).toBe(201);
    expect(imported.body).toMatchObject({ name: 'from nsp', trackCount: 2 });

    // The terminal client, as a person runs it, against the same gateway.
    const home = await mkdtemp(join(tmpdir(), 'smart-client-'));
    const root = fileURLToPath(new URL('..', import.meta.url));
    const run = (args: string[]) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, ['--import', 'tsx', 'client/main.ts', ...args], {
          cwd: root,
          env: {
            ...process.env,
            GATEWAY_URL: origin(),
            MUSIC_CLIENT_HOME: home,
            MUSIC_PLAYER: 'none',
            NO_COLOR: '1',
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let [stdout, stderr] = ['', ''];
        child.stdout.on('data', (d: Buffer) => {
          stdout += d.toString();
        });
        child.stderr.on('data', (d: Buffer) => {
          stderr += d.toString();
        });
        child.once('close', (code) => resolve({ code, stdout, stderr }));
      });
    try {
      expect((await run(['login', alice.user.username, alice.password])).code).toBe(0);
      const smart = await run([
        'playlist',
        'smart',
        'client',
        'smart',
        '--rules',
        JSON.stringify(rules),
        '--json',
      ]);
      expect(smart.code, smart.stderr).toBe(0);
      const fromClient = JSON.parse(smart.stdout);
      expect(fromClient).toMatchObject({ name: 'client smart', trackCount: 3, rules });
      const file = join(home, 'jazz.nsp');
      await writeFile(file, JSON.stringify({ name: 'client nsp', any: [{ is: { loved: true } }] }));
      const nsp = await run(['playlist', 'import', file, '--json']);
      expect(nsp.code, nsp.stderr).toBe(0);
      expect(JSON.parse(nsp.stdout)).toMatchObject({
        name: 'client nsp',
        // No sort in the file: by title, as Navidrome orders it; no limit: the most we hold.
        rules: { rule: { any: [{ field: 'starred' }] }, sort: 'title', order: 'asc', limit: 1000 },
      });
      const rulesFile = join(home, 'rules.json');
      await writeFile(rulesFile, JSON.stringify({ ...rules, limit: 1 }));
      const set = await run(['playlist', 'rules', fromClient.id, `@${rulesFile}`, '--json']);
      expect(set.code, set.stderr).toBe(0);
      expect(JSON.parse(set.stdout).trackCount).toBe(1);
      const refused = await run(['playlist', 'add', fromClient.id, tracks[0]!.id]);
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toMatch(/smart playlist/);
      const listed = await run(['playlists']);
      expect(listed.stdout).toMatch(/client smart.*smart/);
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  }, 90_000);
});
