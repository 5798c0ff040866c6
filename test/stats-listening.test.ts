import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { statsContract } from '../common/contracts/index.js';
import { statsService } from '../services/stats/service.js';
import { eventually } from './support/env.js';
import { EventWorld, playEnvelope } from './support/plays.js';

describe('stats: what listeners play', () => {
  let world: EventWorld;
  const stats = () => world.rpc.bind(statsContract);

  beforeAll(async () => {
    world = await EventWorld.open('listening');
    const worker = await world.start(statsService);
    const at = new Date();
    const plays = [
      // ann and bob both play t1; ann plays t2 three times, bob once; bob plays t3; cy plays t4 only.
      ['ann', 't1'],
      ['bob', 't1'],
      ['ann', 't2'],
      ['ann', 't2'],
      ['ann', 't2'],
      ['bob', 't2'],
      ['bob', 't3'],
      ['cy', 't4'],
      ['cy', 't4'],
    ].map(([user, track]) => playEnvelope(user!, track!, at, 1000));
    await world.publish(plays);
    await eventually(() => world.processed(worker, 'stats') === plays.length);
  });

  afterAll(async () => {
    await world?.close();
  });

  it('gives the all-time counts of the tracks asked, leaving out the unplayed', async () => {
    const counts = await stats().call('trackPlays', { trackIds: ['t2', 't9', 't4'] });
    expect(counts.sort((a, b) => a.trackId.localeCompare(b.trackId))).toEqual([
      { trackId: 't2', plays: 4 },
      { trackId: 't4', plays: 2 },
    ]);
    expect(await stats().call('trackPlays', { trackIds: [] })).toEqual([]);
  });

  it('ranks what the listeners of some tracks also played by listeners in common, then plays', async () => {
    expect(await stats().call('coPlayed', { trackIds: ['t1'] })).toEqual([
      { trackId: 't2', listeners: 2, plays: 4 },
      { trackId: 't3', listeners: 1, plays: 1 },
    ]);
    expect(await stats().call('coPlayed', { trackIds: ['t1', 't2'], limit: 1 })).toEqual([
      { trackId: 't3', listeners: 1, plays: 1 },
    ]);
    expect(await stats().call('coPlayed', { trackIds: ['t4'] })).toEqual([]);
    expect(await stats().call('coPlayed', { trackIds: ['nobody-played-this'] })).toEqual([]);
  });
});
