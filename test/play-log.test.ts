import { randomUUID } from 'node:crypto';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../common/config.js';
import { dropSchema, migrate } from '../common/db/migrate.js';
import type { Pool } from '../common/db/pool.js';
import { PermanentError } from '../common/events/consumer.js';
import {
  MONTHS_AHEAD,
  maintainPlayLog,
  type PlayLogPolicy,
  playLogMonths,
} from '../services/history/partitions.js';
import { storePlays } from '../services/history/store.js';
import { namespace, testPool } from './support/env.js';
import { playEnvelope } from './support/plays.js';

const MIGRATIONS = fileURLToPath(new URL('../services/history/migrations', import.meta.url));
const DAY_MS = 86_400_000;
const NOW = new Date('2026-06-15T12:00:00Z');
const forever: PlayLogPolicy = { retentionMonths: 0, playMaxAgeDays: 30, dedupWindowMs: 31 * DAY_MS };

describe('the play log, partitioned by month', () => {
  let schema: string;
  let pool: Pool;

  beforeEach(async () => {
    schema = `${namespace('plog')}_history`;
    pool = testPool(schema);
  });

  afterEach(async () => {
    await dropSchema(pool, schema);
    await pool.end();
  });

  const count = async (sql = 'SELECT count(*)::int AS n FROM plays') => (await pool.query(sql)).rows[0].n;

  it('keeps the rows, ids and sequence of a play log made before partitioning', async () => {
    const old = await mkdtemp(join(tmpdir(), 'plog-'));
    try {
      await copyFile(join(MIGRATIONS, '001_plays.sql'), join(old, '001_plays.sql'));
      await migrate(pool, schema, old);
      await pool.query(
        `INSERT INTO plays (event_id, user_id, track_id, played_at, ms_played, source)
         SELECT gen_random_uuid(), 'u' || (i % 7), 't' || (i % 13), now() - i * interval '1 day', i, 'test'
         FROM generate_series(1, 200) AS i`,
      );
    } finally {
      await rm(old, { recursive: true });
    }
    const before = (await pool.query('SELECT * FROM plays ORDER BY seq')).rows;
    expect(await migrate(pool, schema, MIGRATIONS)).toEqual(['002_monthly_partitions.sql']);
    expect((await pool.query('SELECT * FROM plays ORDER BY seq')).rows).toEqual(before);
    expect(await count('SELECT count(*)::int AS n FROM play_ids')).toBe(200);
    // Seven or eight months of plays, one partition each, and nothing in the parent itself.
    expect((await playLogMonths(pool)).length).toBeGreaterThanOrEqual(7);
    expect(await count('SELECT count(*)::int AS n FROM ONLY plays')).toBe(0);
    // A redelivered old play is still refused, and seq goes on from where it was.
    const again = before[0]!;
    const replayed = playEnvelope(again.user_id, again.track_id, again.played_at);
    replayed.id = again.event_id;
    expect(await storePlays(pool, [replayed, playEnvelope('u-new', 't1', new Date())])).toBe(1);
    const { rows } = await pool.query('SELECT max(seq)::int AS seq FROM plays');
    expect(rows[0].seq).toBe(Number(before.at(-1)!.seq) + 1);
  });

  it('makes the months a play may be accepted for, and those ahead, once', async () => {
    await migrate(pool, schema, MIGRATIONS);
    const first = await maintainPlayLog(pool, forever, NOW);
    // May (30 days ago) .. August (two ahead); the migration made the current month already.
    expect((await playLogMonths(pool)).filter((m) => m >= '2026-05' && m <= '2026-08')).toEqual([
      '2026-05',
      '2026-06',
      '2026-07',
      '2026-08',
    ]);
    expect(MONTHS_AHEAD).toBe(2);
    expect(first!.created).toContain('plays_2026_08');
    const second = await maintainPlayLog(pool, forever, NOW);
    expect(second!.created).toEqual([]);
    // Two workers at once: one runs it, the other skips its turn, nothing fails.
    const both = await Promise.all([
      maintainPlayLog(pool, forever, new Date('2026-09-01T00:00:00Z')),
      maintainPlayLog(pool, forever, new Date('2026-09-01T00:00:00Z')),
    ]);
    expect(both.filter((r) => r !== null).length).toBeGreaterThanOrEqual(1);
    expect(await playLogMonths(pool)).toContain('2026-11');
  });

  it('stores each play once across partitions, and dead-letters a play of a month not kept', async () => {
    await migrate(pool, schema, MIGRATIONS);
    await maintainPlayLog(pool, forever);
    const now = Date.now();
    // Plays over the last 30 days: two or three months' partitions.
    const plays = Array.from({ length: 300 }, (_, i) =>
      playEnvelope(`u${i % 9}`, `t${i % 17}`, new Date(now - (i % 30) * DAY_MS - i * 1000)),
    );
    expect(await storePlays(pool, plays)).toBe(300);
    // Redelivered in other batches, reversed and mixed with new plays.
    const fresh = Array.from({ length: 20 }, (_, i) =>
      playEnvelope('u-x', `t${i}`, new Date(now - i * DAY_MS)),
    );
    expect(await storePlays(pool, [...plays.slice().reverse(), ...fresh])).toBe(20);
    expect(await storePlays(pool, [...plays.slice(100, 200), ...fresh, ...fresh])).toBe(0);
    expect(await count()).toBe(320);
    const { rows } = await pool.query<{ n: number }>('SELECT count(DISTINCT tableoid)::int AS n FROM plays');
    expect(rows[0]!.n).toBeGreaterThanOrEqual(2);
    // Far outside the months kept: a permanent failure naming the setting, and nothing stored.
    const lost = playEnvelope('u1', 't1', new Date('2001-01-01T00:00:00Z'));
    const err = await storePlays(pool, [lost]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermanentError);
    expect((err as Error).message).toMatch(/2001-01-01.*PLAY_LOG_RETENTION/);
    expect(await count('SELECT count(*)::int AS n FROM play_ids')).toBe(320);
  });

  it('drops the months past the retention and forgets ids past the dedup window', async () => {
    await migrate(pool, schema, MIGRATIONS);
    for (const m of ['2025-10-01', '2025-11-01', '2025-12-01', '2026-01-01', '2026-02-01'])
      await pool.query('SELECT create_play_partition($1::date)', [m]);
    const at = (iso: string) => {
      const e = playEnvelope('u1', 't1', new Date(iso));
      e.id = randomUUID();
      return e;
    };
    await storePlays(pool, [
      at('2025-10-20T00:00:00Z'),
      at('2025-12-31T23:59:59.999Z'),
      at('2026-01-01T00:00:00Z'),
      at('2026-02-20T00:00:00Z'),
    ]);
    const now = new Date('2026-03-15T00:00:00Z');
    // Two whole months before March are kept: January and February.
    const policy: PlayLogPolicy = { retentionMonths: 2, playMaxAgeDays: 30, dedupWindowMs: 31 * DAY_MS };
    const result = await maintainPlayLog(pool, policy, now);
    expect(result!.dropped).toEqual(['plays_2025_10', 'plays_2025_11', 'plays_2025_12']);
    expect((await playLogMonths(pool)).slice(0, 2)).toEqual(['2026-01', '2026-02']);
    expect(await count()).toBe(2);
    // Ids older than the window (played before 12 February) are forgotten; 20 February's kept.
    expect(result!.forgottenIds).toBe(3);
    expect(await count('SELECT count(*)::int AS n FROM play_ids')).toBe(1);
    // A retention shorter than the plays still accepted keeps their month anyway.
    const late: PlayLogPolicy = { retentionMonths: 2, playMaxAgeDays: 120, dedupWindowMs: 121 * DAY_MS };
    expect((await maintainPlayLog(pool, late, new Date('2026-05-01T00:00:00Z')))!.dropped).toEqual([]);
  });
});

describe('PLAY_LOG_RETENTION', () => {
  it('takes forever, 0 or whole months within bounds, and names the variable otherwise', () => {
    expect(loadConfig({}).playLogRetentionMonths).toBe(0);
    expect(loadConfig({ PLAY_LOG_RETENTION: 'forever' }).playLogRetentionMonths).toBe(0);
    expect(loadConfig({ PLAY_LOG_RETENTION: '0' }).playLogRetentionMonths).toBe(0);
    expect(loadConfig({ PLAY_LOG_RETENTION: '13M' }).playLogRetentionMonths).toBe(13);
    for (const bad of ['1M', '1201M', '12', '12 months', '-3M', '1Y'])
      expect(() => loadConfig({ PLAY_LOG_RETENTION: bad })).toThrow(
        `PLAY_LOG_RETENTION="${bad}" is not a valid play log retention`,
      );
  });
});
