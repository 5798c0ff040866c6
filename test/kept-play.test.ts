import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Store } from '../client/store.js';
import { isKeptPlay, type KeptPlay } from '../common/contracts/plays.js';
import { PlayReporter, STORAGE_KEY } from '../web/src/player/plays.js';

const play = (over: Partial<KeptPlay> = {}): KeptPlay => ({
  userId: 'u1',
  trackId: 't1',
  msPlayed: 1000,
  playedAt: '2026-01-01T00:00:00.000Z',
  playId: '00000000-0000-4000-8000-000000000001',
  ...over,
});

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('a kept play, read back by the terminal client and the web player alike', () => {
  it('takes whole milliseconds only, and a well-formed play id', () => {
    expect(isKeptPlay(play())).toBe(true);
    for (const bad of [
      play({ msPlayed: 1.5 }),
      play({ msPlayed: -1 }),
      play({ msPlayed: Number.NaN }),
      play({ playId: 'x' }),
      { ...play(), trackId: 7 },
      null,
      'play',
    ]) {
      expect(isKeptPlay(bad), JSON.stringify(bad)).toBe(false);
    }
  });

  it('is the same check on disk and in local storage', () => {
    const good = play();
    const fractional = play({ msPlayed: 1.5, playId: '00000000-0000-4000-8000-000000000002' });

    const home = mkdtempSync(join(tmpdir(), 'kept-play-'));
    dirs.push(home);
    mkdirSync(join(home, 'unsent-plays'));
    for (const p of [good, fractional]) {
      writeFileSync(join(home, 'unsent-plays', `${p.playId}.json`), JSON.stringify(p));
    }
    expect(new Store('http://127.0.0.1:1', home).unsentPlays('u1')).toEqual([good]);

    const stored = new Map([[STORAGE_KEY, JSON.stringify([good, fractional])]]);
    const reporter = new PlayReporter({
      store: { getItem: (k) => stored.get(k) ?? null, setItem: (k, v) => stored.set(k, v) },
      post: async () => 202,
      userId: () => 'u1',
    });
    expect(reporter.kept()).toEqual([good]);
  });
});
