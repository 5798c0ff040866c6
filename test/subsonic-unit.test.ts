import type { Request } from 'express';
import { describe, expect, it } from 'vitest';
import type { CatalogContract } from '../common/contracts/catalog.js';
import type { ServiceClient } from '../common/rpc/client.js';
import { CoverCache, parseColor, solidPng } from '../gateway/covers.js';
import { ArtistIndexCache, Budgeted, holds } from '../gateway/subsonic/artist-index.js';
import { readCredentials } from '../gateway/subsonic/auth.js';
import { type Call, SENT } from '../gateway/subsonic/context.js';
import type { Marks } from '../gateway/subsonic/models.js';
import { Params } from '../gateway/subsonic/params.js';
import {
  type Body,
  elementText,
  escapeXml,
  pickFormat,
  render,
  renderOnce,
  SubsonicError,
} from '../gateway/subsonic/response.js';
import { groupByInitial } from '../services/catalog/discovery.js';
import { countsAsPlay, expiresAt, NOW_PLAYING_LIMITS, positionNow } from '../services/users/now-playing.js';
import { PasswordSealer, subsonicTokenMatches } from '../services/users/password.js';
import { findAll, parseXml } from './support/xml.js';

const params = (query: Record<string, unknown>, body?: Record<string, unknown>) =>
  Params.of({ query, body } as unknown as Request);

/** The error code `fn` throws, or 'no error'. */
function codeOf(fn: () => unknown): number | string {
  try {
    fn();
    return 'no error';
  } catch (err) {
    return err instanceof SubsonicError ? err.code : String(err);
  }
}

describe('response rendering', () => {
  const body = {
    playlist: {
      id: 'p1',
      name: `Tom & Jerry's <"best"> \u0001mix\u0007`,
      public: false,
      songCount: 2,
      skipped: undefined,
      nothing: null,
      entry: [
        { id: 't1', title: 'A' },
        { id: 't2', title: 'B' },
      ],
      allowedUser: ['ann', 'bo&b'],
      empty: [],
    },
    genre: { songCount: 3, value: 'Rock & <Roll>' },
  };

  it('renders XML with attributes for scalars, elements for objects and lists, text for value', () => {
    const { contentType, text } = render('ok', body, { kind: 'xml' });
    expect(contentType).toBe('text/xml; charset=utf-8');
    expect(text.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<subsonic-response')).toBe(true);
    const root = parseXml(text);
    expect(root.attributes).toEqual({
      xmlns: 'http://subsonic.org/restapi',
      status: 'ok',
      version: '1.16.1',
      type: 'music-streaming',
      serverVersion: expect.any(String),
      openSubsonic: 'true',
    });
    const [playlist] = findAll(root, 'playlist');
    // Control characters XML cannot carry are dropped; the rest is escaped and reads back.
    expect(playlist!.attributes).toEqual({
      id: 'p1',
      name: `Tom & Jerry's <"best"> mix`,
      public: 'false',
      songCount: '2',
    });
    expect(findAll(playlist!, 'entry').map((e) => e.attributes)).toEqual([
      { id: 't1', title: 'A' },
      { id: 't2', title: 'B' },
    ]);
    expect(findAll(playlist!, 'allowedUser').map((e) => e.text)).toEqual(['ann', 'bo&b']);
    expect(findAll(root, 'empty')).toEqual([]);
    const [genre] = findAll(root, 'genre');
    expect(genre).toMatchObject({ text: 'Rock & <Roll>', attributes: { songCount: '3' } });
  });

  it('renders the same body as JSON, leaving out empty lists and missing values', () => {
    const { contentType, text } = render('ok', body, { kind: 'json' });
    expect(contentType).toBe('application/json; charset=utf-8');
    const parsed = JSON.parse(text)['subsonic-response'];
    expect(parsed).toMatchObject({ status: 'ok', version: '1.16.1', openSubsonic: true });
    expect(parsed.playlist).toEqual({
      id: 'p1',
      name: body.playlist.name,
      public: false,
      songCount: 2,
      nothing: null,
      entry: body.playlist.entry,
      allowedUser: ['ann', 'bo&b'],
    });
    expect(parsed.genre).toEqual({ songCount: 3, value: 'Rock & <Roll>' });
  });

  it('renders parts kept with renderOnce as it renders them plain, and reuses their text', () => {
    const groups = () => [
      { name: 'A', artist: [{ id: 'ar1', name: 'Abba & <co>', albumCount: 2, empty: [] }] },
      { name: 'B', artist: [{ id: 'ar2', name: 'Blur', albumCount: 1 }] },
    ];
    const plain = { artists: { ignoredArticles: 'The', index: groups() } };
    const shared = renderOnce(groups().map(renderOnce));
    const keptBody = { artists: { ignoredArticles: 'The', index: shared } };
    // Twice: the second rendering comes from the kept text.
    for (let i = 0; i < 2; i++) {
      for (const format of [{ kind: 'json' }, { kind: 'xml' }, { kind: 'jsonp', callback: 'cb' }] as const) {
        expect(render('ok', keptBody, format).text).toBe(render('ok', plain, format).text);
      }
    }
    // A body mixing kept groups with a caller's own copy of one (as marks make).
    const mixed = { artists: { index: [{ ...shared[0]!, artist: [] }, shared[1]!] } };
    const plainMixed = { artists: { index: [{ ...plain.artists.index[0]!, artist: [] }, groups()[1]!] } };
    expect(render('ok', mixed, { kind: 'json' }).text).toBe(render('ok', plainMixed, { kind: 'json' }).text);
    expect(render('ok', mixed, { kind: 'xml' }).text).toBe(render('ok', plainMixed, { kind: 'xml' }).text);
    // Kept text is kept: a change after the first rendering is not seen (kept parts must not change).
    (shared[1]!.artist as Array<{ name: string }>)[0]!.name = 'Changed';
    expect(render('ok', keptBody, { kind: 'json' }).text).toBe(render('ok', plain, { kind: 'json' }).text);
  });

  it('wraps JSON for a safe JSONP callback only', () => {
    expect(pickFormat('jsonp', 'cb.done_1')).toEqual({ kind: 'jsonp', callback: 'cb.done_1' });
    expect(pickFormat('jsonp', 'alert(1)//')).toEqual({ kind: 'json' });
    expect(pickFormat(undefined, undefined)).toEqual({ kind: 'xml' });
    expect(pickFormat('yaml', undefined)).toEqual({ kind: 'xml' });
    const { contentType, text } = render(
      'failed',
      { error: { code: 10, message: 'x' } },
      pickFormat('jsonp', 'cb'),
    );
    expect(contentType).toMatch(/^application\/javascript/);
    expect(text).toMatch(
      /^cb\(\{"subsonic-response":\{"status":"failed",.*"error":\{"code":10,"message":"x"\}\}\}\);$/,
    );
  });

  it('escapes every markup character and drops lone surrogates', () => {
    expect(escapeXml(`<a href="x">&'`)).toBe('&lt;a href=&quot;x&quot;&gt;&amp;&apos;');
    expect(escapeXml('ok \ud83c\udfb5 \ud800 end')).toBe('ok \ud83c\udfb5  end');
  });
});

describe('parameters', () => {
  it('merges the query string and a form body, keeping repeated values in order', () => {
    const p = params({ id: ['1', '2'], f: 'json' }, { id: '3', name: 'x' });
    expect(p.all('id')).toEqual(['1', '2', '3']);
    expect(p.string('name')).toBe('x');
    expect(p.string('missing')).toBeUndefined();
  });

  it('reads integers, booleans and lists, with error 10 for missing and 0 for bad values', () => {
    const p = params({
      size: '20',
      bad: '2x',
      neg: '-1',
      yes: 'true',
      no: '0',
      maybe: 'perhaps',
      id: ['', 'a'],
    });
    expect(p.int('size', 0, 500)).toBe(20);
    expect(codeOf(() => p.int('bad', 0, 500))).toBe(0);
    expect(codeOf(() => p.int('neg', 0, 500))).toBe(0);
    expect(codeOf(() => p.int('size', 0, 10))).toBe(0);
    expect(p.bool('yes')).toBe(true);
    expect(p.bool('no')).toBe(false);
    expect(p.bool('absent')).toBeUndefined();
    expect(codeOf(() => p.bool('maybe'))).toBe(0);
    expect(p.list('id')).toEqual(['a']);
    expect(codeOf(() => p.required('absent'))).toBe(10);
    expect(codeOf(() => p.requiredList('absent'))).toBe(10);
    expect(codeOf(() => params({ q: 'x'.repeat(3000) }).string('q'))).toBe(0);
  });
});

describe('credentials', () => {
  it('reads token, password, enc: password and API key forms', () => {
    expect(readCredentials(params({ u: 'ann', t: 'abc', s: 'salt' }))).toEqual({
      username: 'ann',
      token: 'abc',
      salt: 'salt',
    });
    expect(readCredentials(params({ u: 'ann', p: 'pw' }))).toEqual({ username: 'ann', password: 'pw' });
    const hex = Buffer.from('pässword', 'utf8').toString('hex');
    expect(readCredentials(params({ u: 'ann', p: `enc:${hex}` }))).toEqual({
      username: 'ann',
      password: 'pässword',
    });
    expect(readCredentials(params({ apiKey: 'k' }))).toEqual({ apiKey: 'k' });
  });

  it('refuses mixed mechanisms (43), missing parts (10) and bad hex (40)', () => {
    expect(codeOf(() => readCredentials(params({ apiKey: 'k', u: 'ann' })))).toBe(43);
    expect(codeOf(() => readCredentials(params({ apiKey: 'k', p: 'x' })))).toBe(43);
    expect(codeOf(() => readCredentials(params({ u: 'ann', p: 'x', t: 'y', s: 'z' })))).toBe(43);
    expect(codeOf(() => readCredentials(params({ p: 'x' })))).toBe(10);
    expect(codeOf(() => readCredentials(params({ u: 'ann' })))).toBe(10);
    expect(codeOf(() => readCredentials(params({ u: 'ann', s: 'z' })))).toBe(10);
    expect(codeOf(() => readCredentials(params({ u: 'ann', p: 'enc:abc' })))).toBe(40);
  });

  it('seals a password so only the same key and user open it, through a rotation, and checks md5 tokens', () => {
    const one = 'secret-one-secret-one-secret-one-1';
    const two = 'secret-two-secret-two-secret-two-2';
    const sealer = new PasswordSealer({ current: one, previous: [] });
    const sealed = sealer.seal('correct horse', 'user-1');
    expect(sealed).not.toContain('correct horse');
    expect(sealer.seal('correct horse', 'user-1')).not.toBe(sealed);
    expect(sealer.open(sealed, 'user-1')).toEqual({ password: 'correct horse', stale: false });
    expect(new PasswordSealer({ current: two, previous: [] }).open(sealed, 'user-1')).toBeNull();
    expect(sealer.open(sealed, 'user-2')).toBeNull();
    // After a rotation the old seal still opens, marked stale so it is sealed again.
    const rotated = new PasswordSealer({ current: two, previous: [one] });
    expect(rotated.open(sealed, 'user-1')).toEqual({ password: 'correct horse', stale: true });
    expect(rotated.open(rotated.seal('correct horse', 'user-1'), 'user-1')).toEqual({
      password: 'correct horse',
      stale: false,
    });
    const [scheme, iv, data, tag] = sealed.split('$') as [string, string, string, string];
    const flipped = Buffer.from(data, 'base64url');
    flipped[0]! ^= 1;
    expect(sealer.open([scheme, iv, flipped.toString('base64url'), tag].join('$'), 'user-1')).toBeNull();
    expect(sealer.open('garbage', 'user-1')).toBeNull();

    // md5("sesame" + "c19b2d") from the Subsonic API documentation's example.
    expect(subsonicTokenMatches('sesame', 'c19b2d', '26719a1196d2a940705a59634eb18eab')).toBe(true);
    expect(subsonicTokenMatches('sesame', 'c19b2d', '26719A1196D2A940705A59634EB18EAB')).toBe(true);
    expect(subsonicTokenMatches('sesame', 'c19b2e', '26719a1196d2a940705a59634eb18eab')).toBe(false);
    expect(subsonicTokenMatches('sesame', 'c19b2d', 'not-hex')).toBe(false);
  });
});

describe('models and helpers', () => {
  it('indexes artists by the initial of their name without a leading article or accent, others under #', () => {
    const a = (name: string) => ({ id: name, name, albumCount: 1 });
    const index = groupByInitial([a('42 Days'), a('apple'), a('Ábel'), a('An Owl'), a('The Zebras')]);
    expect(index.map((g) => [g.name, g.artists.map((x) => x.name)])).toEqual([
      ['#', ['42 Days']],
      ['A', ['apple', 'Ábel']],
      ['O', ['An Owl']],
      ['Z', ['The Zebras']],
    ]);
  });

  it('makes covers off the event loop: a flood of large ones leaves it answering', async () => {
    const covers = new CoverCache();
    const delays: number[] = [];
    let last = performance.now();
    const ticker = setInterval(() => {
      const now = performance.now();
      delays.push(now - last);
      last = now;
    }, 1);
    const made = await Promise.all(
      Array.from({ length: 40 }, (_, i) => covers.get(`#${(0x100000 + i).toString(16)}`, 1024)),
    );
    clearInterval(ticker);
    expect(made.every((png) => png.readUInt32BE(16) === 1024)).toBe(true);
    // Forty deflates of 3 MB each: on the event loop that was ~10 ms each, all in one turn
    // (400 ms on a quiet machine); off it, the longest turn stays well under half of that even
    // on two busy cores.
    expect(Math.max(...delays)).toBeLessThan(200);
    // The same one again comes from the cache.
    expect(await covers.get('#100000', 1024)).toBe(made[0]);
  });

  it('draws a PNG of one colour and reads CSS colours', async () => {
    expect(parseColor('#3a6ea5')).toEqual([0x3a, 0x6e, 0xa5]);
    expect(parseColor('#fff')).toEqual([255, 255, 255]);
    expect(parseColor('red')).toEqual(parseColor('#6b7280'));
    const png = await solidPng('#102030', 3);
    expect(png.readUInt32BE(16)).toBe(3);
    expect(png.readUInt32BE(20)).toBe(3);
    expect(png.subarray(png.length - 8, png.length - 4).toString('latin1')).toBe('IEND');
  });

  it('puts element text in elements of their own in XML and plain strings in JSON', () => {
    const body = {
      artistInfo2: { biography: elementText(''), smallImageUrl: elementText('http://h/a?x=1&y=2') },
    };
    const xml = parseXml(render('ok', body, { kind: 'xml' }).text);
    const [info] = findAll(xml, 'artistInfo2');
    expect(info!.children.map((c) => [c.name, c.text])).toEqual([
      ['biography', ''],
      ['smallImageUrl', 'http://h/a?x=1&y=2'],
    ]);
    const json = JSON.parse(render('ok', body, { kind: 'json' }).text)['subsonic-response'];
    expect(json.artistInfo2).toEqual({ biography: '', smallImageUrl: 'http://h/a?x=1&y=2' });
  });
});

describe('now playing', () => {
  const L = NOW_PLAYING_LIMITS;
  const now = 1_000_000_000;

  it('keeps a playing entry until its track would have ended at its rate, plus a grace', () => {
    const playing = { state: 'playing', positionMs: 20_000, playbackRate: 1 } as const;
    expect(expiresAt(playing, 60_000, now)).toBe(now + 40_000 + L.graceMs);
    expect(expiresAt({ ...playing, playbackRate: 2 }, 60_000, now)).toBe(now + 20_000 + L.graceMs);
    expect(expiresAt({ ...playing, positionMs: 90_000 }, 60_000, now)).toBe(now + L.graceMs);
  });

  it('forgets a paused, buffering or rate-0 player that goes quiet, and hides a stopped one', () => {
    for (const state of ['paused', 'starting'] as const) {
      expect(expiresAt({ state, positionMs: 0, playbackRate: 1 }, 60_000, now)).toBe(now + L.idleMs);
    }
    expect(expiresAt({ state: 'playing', positionMs: 0, playbackRate: 0 }, 60_000, now)).toBe(now + L.idleMs);
    expect(expiresAt({ state: 'stopped', positionMs: 0, playbackRate: 1 }, 60_000, now)).toBe(
      now + L.stoppedMs,
    );
  });

  it('moves a playing position on at its rate, up to the end, and holds a paused one', () => {
    const at = { state: 'playing', positionMs: 10_000, playbackRate: 1.5, updatedAt: now - 4000 } as const;
    expect(positionNow(at, 60_000, now)).toBe(16_000);
    expect(positionNow(at, 12_000, now)).toBe(12_000);
    expect(positionNow({ ...at, state: 'paused' }, 60_000, now)).toBe(10_000);
  });

  it('counts a playback as a play at half the track or four minutes', () => {
    expect(countsAsPlay(29_999, 60_000)).toBe(false);
    expect(countsAsPlay(30_000, 60_000)).toBe(true);
    expect(countsAsPlay(240_000, 3_600_000)).toBe(true);
    expect(countsAsPlay(239_999, 3_600_000)).toBe(false);
    expect(countsAsPlay(0, 0)).toBe(false);
  });
});

describe('the artist index cache', () => {
  const marks = (starred: Array<[string, string]> = []): Marks => ({
    starred: { songs: new Map(), albums: new Map(), artists: new Map(starred) },
    rated: { songs: new Map(), albums: new Map(), artists: new Map() },
  });
  function fakeCatalog() {
    const state = { version: '1', fetched: 0, names: ['Abba', 'Blur'] };
    const catalog = {
      actingFor() {
        return this;
      },
      call: async (method: string) => {
        if (method === 'version') return { version: state.version };
        state.fetched++;
        return [
          { name: 'A', artists: state.names.map((name, i) => ({ id: `ar${i}`, name, albumCount: 1 })) },
        ];
      },
    } as unknown as ServiceClient<CatalogContract>;
    return { state, cache: new ArtistIndexCache(catalog) };
  }
  /** A call as the endpoint gets it, with a response that records what was sent. */
  function fakeCall(callerMarks: Marks, ifNoneMatch?: string) {
    const sent: { status?: number; headers: Record<string, string>; bytes?: Buffer } = { headers: {} };
    const res = {
      status(code: number) {
        sent.status = code;
        return res;
      },
      type(value: string) {
        sent.headers['content-type'] = value;
        return res;
      },
      set(name: string, value: string) {
        sent.headers[name.toLowerCase()] = value;
        return res;
      },
      end(bytes?: Buffer) {
        sent.bytes = bytes;
        return res;
      },
    };
    const req = { get: (name: string) => (name === 'if-none-match' ? ifNoneMatch : undefined) };
    const call = {
      caller: undefined,
      library: undefined,
      format: { kind: 'json' },
      marks: async () => callerMarks,
      req,
      res,
    } as unknown as Call;
    return { call, sent };
  }
  const wrap = ({ groups }: { groups: unknown }) => ({ artists: { index: groups } }) as never;

  it('fetches the index once per catalog version, and again when it changes', async () => {
    const { state, cache } = fakeCatalog();
    // A caller with a mark (on no artist of the index) gets the kept groups, not bytes.
    const seen = async () => {
      let got: { groups: Body[]; since: number } | undefined;
      await cache.answer(fakeCall(marks([['nobody', '2026-01-01T00:00:00.000Z']])).call, 'id3', (s) => {
        got = s;
        return {};
      });
      return got!;
    };
    const first = await seen();
    expect((await seen()).groups[0]).toBe(first.groups[0]);
    expect(state.fetched).toBe(1);
    state.names.push('Cream');
    expect((await seen()).groups[0]).toBe(first.groups[0]);
    state.version = '2';
    const second = await seen();
    expect(state.fetched).toBe(2);
    expect(second.since).toBeGreaterThanOrEqual(first.since);
    expect((second.groups[0]!.artist as Array<{ name: string }>).map((a) => a.name)).toEqual([
      'Abba',
      'Blur',
      'Cream',
    ]);
  });

  it("marks the caller's starred artists without changing the shared answer", async () => {
    const { cache } = fakeCatalog();
    const mine = fakeCall(marks([['ar1', '2026-01-01T00:00:00.000Z']]));
    const body = (await cache.answer(mine.call, 'folder', wrap)) as { artists: { index: Body[] } };
    expect(body.artists.index[0]!.artist).toEqual([
      { id: 'ar0', name: 'Abba' },
      { id: 'ar1', name: 'Blur', starred: '2026-01-01T00:00:00.000Z', userRating: undefined },
    ]);
    expect(mine.sent.bytes).toBeUndefined();
    const theirs = fakeCall(marks());
    expect(await cache.answer(theirs.call, 'folder', wrap)).toBe(SENT);
    const doc = JSON.parse(theirs.sent.bytes!.toString('utf8'));
    expect(doc['subsonic-response'].artists.index[0].artist[1]).toEqual({ id: 'ar1', name: 'Blur' });
  });

  it('sends callers without marks the bytes encoded once, and 304 to one that holds them', async () => {
    const { state, cache } = fakeCatalog();
    const a = fakeCall(marks());
    const b = fakeCall(marks());
    await cache.answer(a.call, 'id3', wrap);
    await cache.answer(b.call, 'id3', wrap);
    expect(b.sent.bytes).toBe(a.sent.bytes);
    expect(a.sent.headers['content-length']).toBe(String(a.sent.bytes!.length));
    const etag = a.sent.headers.etag!;
    const again = fakeCall(marks(), etag);
    await cache.answer(again.call, 'id3', wrap);
    expect(again.sent.status).toBe(304);
    expect(again.sent.bytes).toBeUndefined();
    // A new version is a new answer, with another ETag.
    state.names.push('Cream');
    state.version = '2';
    const changed = fakeCall(marks(), etag);
    await cache.answer(changed.call, 'id3', wrap);
    expect(changed.sent.status).toBe(200);
    expect(changed.sent.headers.etag).not.toBe(etag);
    expect(changed.sent.bytes!.toString('utf8')).toContain('Cream');
  });

  it('matches If-None-Match weakly, in a list, and *', () => {
    expect(holds('"abc"', '"abc"')).toBe(true);
    expect(holds('W/"abc"', '"abc"')).toBe(true);
    expect(holds('"x", "abc"', '"abc"')).toBe(true);
    expect(holds('*', '"abc"')).toBe(true);
    expect(holds('"abcd"', '"abc"')).toBe(false);
    expect(holds(undefined, '"abc"')).toBe(false);
  });

  it('keeps entries up to a budget, dropping the least recently used, never the newest', () => {
    const kept = new Budgeted<number>(10, (n) => n);
    kept.set('a', 4);
    kept.set('b', 4);
    kept.get('a');
    kept.set('c', 4);
    expect([kept.get('a'), kept.get('b'), kept.get('c')]).toEqual([4, undefined, 4]);
    kept.set('huge', 50);
    expect(kept.size).toBe(1);
    expect(kept.get('huge')).toBe(50);
  });
});
