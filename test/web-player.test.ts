/**
 * The web player's logic without a browser: the queue, the listening meter, and the play
 * reporter (kept plays, retries, batches, refused plays, counted once by play id).
 */
import { describe, expect, it } from 'vitest';
import { countsAsPlay, ListenMeter, SKIP_REPORT_MS } from '../web/src/player/listening.js';
import {
  type KeptPlay,
  type KeyValueStore,
  MAX_PLAYS_PER_BATCH,
  PlayReporter,
  STORAGE_KEY,
} from '../web/src/player/plays.js';
import { Queue, type QueueTrack } from '../web/src/player/queue.js';

const track = (id: string): QueueTrack => ({
  id,
  title: `Title ${id}`,
  artistId: 'ar1',
  artistName: 'Artist',
  albumId: 'al1',
  albumTitle: 'Album',
  durationMs: 20_000,
});
const ids = (q: Queue) => ({
  current: q.current?.track.id ?? null,
  upNext: q.upNext.map((e) => e.track.id),
  rest: q.contextRest.map((e) => e.track.id),
});

describe('Queue', () => {
  it('plays a context in order and stops at its end', () => {
    const q = new Queue();
    q.playContext('Album', [track('a'), track('b'), track('c')], 1);
    expect(ids(q)).toEqual({ current: 'b', upNext: [], rest: ['c'] });
    expect(q.next()?.track.id).toBe('c');
    expect(q.hasNext).toBe(false);
    expect(q.next()).toBeNull();
    expect(q.current).toBeNull();
    // What played is still there for "previous".
    expect(q.previous()?.track.id).toBe('c');
  });

  it('plays tracks queued by hand before the rest of the context, "play next" first', () => {
    const q = new Queue();
    q.playContext('Album', [track('a'), track('b'), track('c')], 0);
    q.enqueue(track('x'));
    q.enqueue(track('y'));
    q.playNext(track('n'));
    expect(ids(q)).toEqual({ current: 'a', upNext: ['n', 'x', 'y'], rest: ['b', 'c'] });
    expect([q.next(), q.next(), q.next(), q.next()].map((e) => e?.track.id)).toEqual(['n', 'x', 'y', 'b']);
    expect(ids(q)).toEqual({ current: 'b', upNext: [], rest: ['c'] });
  });

  it('starts a queued track at once when nothing plays', () => {
    const q = new Queue();
    q.enqueue(track('x'));
    expect(ids(q)).toEqual({ current: 'x', upNext: [], rest: [] });
    q.enqueue(track('y'));
    expect(ids(q).upNext).toEqual(['y']);
  });

  it('goes back through what played, and forward again in the same order', () => {
    const q = new Queue();
    q.playContext('Album', [track('a'), track('b'), track('c')], 0);
    q.enqueue(track('x'));
    q.next(); // x
    q.next(); // b
    expect(q.previous()?.track.id).toBe('x');
    expect(ids(q)).toEqual({ current: 'x', upNext: [], rest: ['b', 'c'] });
    expect(q.previous()?.track.id).toBe('a');
    // x was put back in front of up next, so forward replays it, then the context.
    expect(ids(q)).toEqual({ current: 'a', upNext: ['x'], rest: ['b', 'c'] });
    expect([q.next(), q.next()].map((e) => e?.track.id)).toEqual(['x', 'b']);
    expect(new Queue().previous()).toBeNull();
  });

  it('jumps to an upcoming entry, removes entries and clears what is to come', () => {
    const q = new Queue();
    q.playContext('Album', [track('a'), track('b'), track('c'), track('d')], 0);
    const x = q.enqueue(track('x'));
    const y = q.enqueue(track('y'));
    q.enqueue(track('z'));
    // Jumping into up next skips the entries queued before it.
    expect(q.jumpTo(y.key)?.track.id).toBe('y');
    expect(ids(q)).toEqual({ current: 'y', upNext: ['z'], rest: ['b', 'c', 'd'] });
    q.remove(x.key); // already gone: nothing happens
    const c = q.contextRest[1]!;
    expect(q.jumpTo(c.key)?.track.id).toBe('c');
    expect(ids(q)).toEqual({ current: 'c', upNext: ['z'], rest: ['d'] });
    q.remove(q.contextRest[0]!.key);
    expect(ids(q).rest).toEqual([]);
    q.enqueue(track('w'));
    q.clear();
    expect(ids(q)).toEqual({ current: 'c', upNext: [], rest: [] });
  });

  it('tells two entries of the same track apart', () => {
    const q = new Queue();
    q.playContext('Album', [track('a')], 0);
    const first = q.enqueue(track('x'));
    const second = q.enqueue(track('x'));
    expect(first.key).not.toBe(second.key);
    q.remove(second.key);
    expect(q.upNext.map((e) => e.key)).toEqual([first.key]);
  });

  it('survives a round trip through JSON, and drops what does not look like a queue', () => {
    const q = new Queue();
    q.playContext('Album', [track('a'), track('b'), track('c')], 0);
    q.enqueue(track('x'));
    q.next(); // x
    const restored = Queue.fromJSON(JSON.parse(JSON.stringify(q.toJSON())));
    expect(ids(restored)).toEqual(ids(q));
    expect(restored.contextLabel).toBe('Album');
    expect(restored.previous()?.track.id).toBe('a');
    expect(restored.next()?.track.id).toBe('x');
    // New entries get keys of their own.
    const added = restored.enqueue(track('y'));
    expect(restored.upNext.filter((e) => e.key === added.key)).toHaveLength(1);

    expect(ids(Queue.fromJSON('nonsense'))).toEqual({ current: null, upNext: [], rest: [] });
    const damaged = Queue.fromJSON({
      current: { key: 1, track: { id: 5 } },
      upNext: [{}, null],
      position: 9,
    });
    expect(ids(damaged)).toEqual({ current: null, upNext: [], rest: [] });
  });
});

describe('ListenMeter', () => {
  it('counts small steps of playback and not seeks', () => {
    const m = new ListenMeter();
    for (let ms = 0; ms <= 10_000; ms += 250) m.at(ms);
    expect(m.listenedMs).toBe(10_000);
    m.jumped(); // seeking to 60 s
    m.at(60_000);
    m.at(60_250);
    expect(m.listenedMs).toBe(10_250);
    // A jump nobody announced (a step far larger than timeupdate makes) does not count either.
    m.at(90_000);
    m.at(90_500);
    expect(m.listenedMs).toBe(10_750);
    // Going backwards (a seek back without the event) adds nothing.
    m.at(5_000);
    expect(m.listenedMs).toBe(10_750);
  });

  it('counts a play that ended, or was skipped after 30 s', () => {
    expect(countsAsPlay('ended', 1)).toBe(true);
    expect(countsAsPlay('ended', 0)).toBe(false);
    expect(countsAsPlay('skipped', SKIP_REPORT_MS - 1)).toBe(false);
    expect(countsAsPlay('skipped', SKIP_REPORT_MS)).toBe(true);
  });
});

/** localStorage as a map, optionally refusing writes (full, or disabled). */
class MemoryStore implements KeyValueStore {
  readonly items = new Map<string, string>();
  refuse = false;
  getItem(key: string): string | null {
    return this.items.get(key) ?? null;
  }
  setItem(key: string, value: string): void {
    if (this.refuse) throw new Error('QuotaExceededError');
    this.items.set(key, value);
  }
}

interface Sent {
  path: string;
  body: { plays?: Array<Record<string, unknown>> } & Record<string, unknown>;
}

/**
 * The gateway as the reporter sees it: answers chosen per request, and the plays it accepted
 * counted by (user, play id) as the real one does (the event id is derived from them).
 */
class FakeGateway {
  readonly sent: Sent[] = [];
  readonly events = new Set<string>();
  answers: number[] = [];
  /** What every request gets once `answers` is used up. */
  otherwise = 202;
  /** Track ids the gateway does not know (a 404, naming nothing published). */
  unknown = new Set<string>();
  /** Accepts the plays but the answer is lost (a 503 after the broker confirmed). */
  loseNextAnswer = false;

  constructor(private readonly userId: () => string | null) {}

  post = async (path: string, body: unknown): Promise<number> => {
    const b = body as Sent['body'];
    this.sent.push({ path, body: structuredClone(b) });
    const plays = path === '/api/plays/batch' ? b.plays! : [b];
    if (plays.some((p) => this.unknown.has(p.trackId as string))) return 404;
    const status = this.answers.shift() ?? this.otherwise;
    if (status === 202 || this.loseNextAnswer) {
      for (const p of plays) this.events.add(`${this.userId()}:${p.playId as string}`);
    }
    if (this.loseNextAnswer) {
      this.loseNextAnswer = false;
      return 503;
    }
    return status;
  };
}

function setup(opts: { attempts?: number } = {}) {
  const store = new MemoryStore();
  let user: string | null = 'u1';
  const gateway = new FakeGateway(() => user);
  const waits: number[] = [];
  const later: Array<{ fn: () => void; ms: number }> = [];
  let n = 0;
  const reporter = new PlayReporter({
    store,
    post: gateway.post,
    userId: () => user,
    newId: () => `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}`,
    wait: async (ms) => {
      waits.push(ms);
    },
    schedule: (fn, ms) => later.push({ fn, ms }),
    ...opts,
  });
  return {
    store,
    gateway,
    reporter,
    waits,
    later,
    setUser: (u: string | null) => {
      user = u;
    },
    stored: () => JSON.parse(store.getItem(STORAGE_KEY) ?? '[]') as KeptPlay[],
  };
}

const play = (trackId: string, at = '2026-01-01T10:00:00.000Z') => ({
  trackId,
  msPlayed: 12_345,
  playedAt: at,
});

describe('PlayReporter', () => {
  it('sends one play as POST /api/plays with its play id, and forgets it once accepted', async () => {
    const { reporter, gateway, stored } = setup();
    const result = await reporter.report(play('t1'));
    expect(result).toEqual({ sent: 1, dropped: 0, kept: 0 });
    expect(gateway.sent).toEqual([
      {
        path: '/api/plays',
        body: {
          trackId: 't1',
          msPlayed: 12_345,
          playedAt: '2026-01-01T10:00:00.000Z',
          playId: '00000000-0000-4000-8000-000000000001',
          source: 'web',
        },
      },
    ]);
    expect(stored()).toEqual([]);
  });

  it('retries a 503 with the same play id, so a play whose answer was lost counts once', async () => {
    const { reporter, gateway, waits } = setup();
    gateway.loseNextAnswer = true; // accepted, but the client sees a 503
    const result = await reporter.report(play('t1'));
    expect(result.sent).toBe(1);
    expect(gateway.sent).toHaveLength(2);
    expect(gateway.sent[0]!.body.playId).toBe(gateway.sent[1]!.body.playId);
    expect(gateway.events.size).toBe(1);
    expect(waits).toEqual([250]);
  });

  it('keeps plays while the gateway is away, retries later, and sends them all in one batch', async () => {
    const { reporter, gateway, later, stored, waits } = setup();
    gateway.otherwise = 503;
    expect(await reporter.report(play('t1', '2026-01-01T10:00:00.000Z'))).toEqual({
      sent: 0,
      dropped: 0,
      kept: 1,
    });
    // Four attempts with back-off, then kept for later.
    expect(gateway.sent).toHaveLength(4);
    expect(waits).toEqual([250, 500, 1000]);
    expect(later.map((l) => l.ms)).toEqual([5000]);
    gateway.otherwise = 0; // unreachable now
    await reporter.report(play('t2', '2026-01-01T10:05:00.000Z'));
    expect(stored().map((p) => p.trackId)).toEqual(['t1', 't2']);
    // Still one timer pending, not one per failure.
    expect(later).toHaveLength(1);

    gateway.otherwise = 202;
    gateway.sent.length = 0;
    later.shift()!.fn();
    await reporter.flush();
    expect(gateway.sent).toHaveLength(1);
    expect(gateway.sent[0]!.path).toBe('/api/plays/batch');
    expect(gateway.sent[0]!.body.plays!.map((p) => p.trackId)).toEqual(['t1', 't2']);
    expect(stored()).toEqual([]);
    expect(gateway.events.size).toBe(2);
  });

  it('backs off further each time the gateway stays away', async () => {
    const { reporter, gateway, later } = setup({ attempts: 1 });
    gateway.otherwise = 503;
    await reporter.report(play('t1'));
    for (let i = 0; i < 5; i++) {
      later.shift()!.fn();
      await reporter.flush();
    }
    expect(gateway.sent.length).toBeGreaterThanOrEqual(6);
    expect(later.map((l) => l.ms)).toEqual([30_000]);
  });

  it('drops a play the gateway refuses for good (404), after sending the others of its batch one by one', async () => {
    const { reporter, gateway, stored } = setup({ attempts: 1 });
    gateway.otherwise = 503;
    await reporter.report(play('t1', '2026-01-01T10:00:00.000Z'));
    await reporter.report(play('gone', '2026-01-01T10:01:00.000Z'));
    await reporter.report(play('t3', '2026-01-01T10:02:00.000Z'));
    gateway.otherwise = 202;
    gateway.unknown.add('gone');
    gateway.sent.length = 0;
    expect(await reporter.flush()).toEqual({ sent: 2, dropped: 1, kept: 0 });
    expect(gateway.sent.map((s) => s.path)).toEqual([
      '/api/plays/batch',
      '/api/plays',
      '/api/plays',
      '/api/plays',
    ]);
    expect(stored()).toEqual([]);
    expect(gateway.events.size).toBe(2);
  });

  it('keeps plays when the session is gone (401), and sends them for their own user only', async () => {
    const { reporter, gateway, stored, setUser } = setup();
    gateway.answers = [401];
    await reporter.report(play('t1'));
    expect(stored()).toHaveLength(1);
    setUser('u2');
    gateway.sent.length = 0;
    await reporter.flush();
    expect(gateway.sent).toEqual([]);
    setUser(null);
    await reporter.flush();
    expect(gateway.sent).toEqual([]);
    expect(reporter.keep(play('t9'))).toBeNull(); // nobody logged in: nothing to keep it for
    setUser('u1');
    await reporter.flush();
    expect(gateway.sent).toHaveLength(1);
    expect(stored()).toEqual([]);
  });

  it('splits more kept plays than one batch takes', async () => {
    const { reporter, gateway, store } = setup();
    const many: KeptPlay[] = Array.from({ length: MAX_PLAYS_PER_BATCH + 3 }, (_, i) => ({
      userId: 'u1',
      trackId: `t${i}`,
      msPlayed: 1000,
      playedAt: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
      playId: `00000000-0000-4000-9000-${String(i).padStart(12, '0')}`,
    }));
    store.setItem(STORAGE_KEY, JSON.stringify(many));
    expect(await reporter.flush()).toEqual({ sent: MAX_PLAYS_PER_BATCH + 3, dropped: 0, kept: 0 });
    expect(gateway.sent.map((s) => s.body.plays?.length ?? 1)).toEqual([MAX_PLAYS_PER_BATCH, 3]);
  });

  it('sends a play kept while a send was running right after it', async () => {
    const { reporter, gateway } = setup();
    let release!: () => void;
    const slow = new Promise<void>((resolve) => {
      release = resolve;
    });
    const post = gateway.post;
    gateway.post = async (path, body) => {
      await slow;
      return post(path, body);
    };
    const first = reporter.report(play('t1', '2026-01-01T10:00:00.000Z'));
    const second = reporter.report(play('t2', '2026-01-01T10:01:00.000Z'));
    release();
    await Promise.all([first, second]);
    const sentIds = gateway.sent.flatMap((s) => (s.body.plays ?? [s.body]).map((p) => p.trackId));
    expect(sentIds.sort()).toEqual(['t1', 't2']);
    expect(gateway.events.size).toBe(2);
  });

  it('ignores damaged storage, and keeps plays in memory when storage refuses them', async () => {
    const { reporter, gateway, store } = setup();
    store.items.set(STORAGE_KEY, '{not json');
    gateway.otherwise = 503;
    store.refuse = true;
    await reporter.report(play('t1'));
    expect(reporter.kept().map((p) => p.trackId)).toEqual(['t1']);
    gateway.otherwise = 202;
    store.refuse = false;
    expect((await reporter.flush()).sent).toBe(1);
    expect(reporter.kept()).toEqual([]);
  });
});
