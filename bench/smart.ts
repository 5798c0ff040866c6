/**
 * What a smart playlist's evaluation costs the catalog at scale: `catalog.matchTracks`'s query
 * (services/catalog/smart.ts) over a generated library (bench/catalog-data.ts) of
 * SMART_BENCH_TRACKS tracks (1,000,000 by default) in a schema of its own in the test database,
 * with listening facts of 0, 5,000 and 50,000 tracks. Prints the median and the worst of 5 runs
 * of each rule shape, and drops the schema. Run under the bench lock:
 *
 *   flock /tmp/music-bench.lock npx tsx bench/smart.ts
 */
import { randomBytes } from 'node:crypto';
import { SMART_MAX_FACTS, type SmartRulesInput, smartRules } from '../common/contracts/index.js';
import { createPool, dropSchema, migrate } from '../common/index.js';
import { catalogService } from '../services/catalog/service.js';
import { matchTracks } from '../services/catalog/smart.js';
import { ID_BASE, loadCatalog } from './catalog-data.js';

const URL = process.env.TEST_DATABASE_URL ?? 'postgres://music:music@127.0.0.1:5432/music_test';
const TRACKS = Number(process.env.SMART_BENCH_TRACKS ?? 1_000_000);
const RUNS = 5;

const RULES: Record<string, SmartRulesInput> = {
  'genre and years, by artist': {
    rule: {
      all: [
        { field: 'genre', op: 'is', value: 'jazz' },
        { field: 'year', op: 'inRange', value: [1990, 1999] },
      ],
    },
    sort: 'artist',
    limit: 100,
  },
  'genre, not played this year, random': {
    rule: {
      all: [
        { field: 'genre', op: 'is', value: 'jazz' },
        { field: 'lastPlayed', op: 'notInTheLast', value: 365 },
      ],
    },
    sort: 'random',
    limit: 1000,
  },
  'most played (any of plays, stars, rating)': {
    rule: {
      any: [
        { field: 'playCount', op: 'gt', value: 3 },
        { field: 'starred', op: 'is', value: true },
        { field: 'rating', op: 'gt', value: 3 },
      ],
    },
    sort: 'playCount',
    order: 'desc',
    limit: 100,
  },
  'title contains a word, newest first': {
    rule: { all: [{ field: 'title', op: 'contains', value: 'river' }] },
    sort: 'addedAt',
    order: 'desc',
    limit: 200,
  },
};

function facts(n: number) {
  const ids = Array.from({ length: n }, (_, i) => `tr${ID_BASE + ((i * 7919) % TRACKS)}`);
  const unique = [...new Set(ids)];
  return {
    trackIds: unique,
    plays: unique.map((_, i) => 1 + (i % 9)),
    lastPlayed: unique.map((_, i) => new Date(Date.now() - (i % 700) * 86_400_000).toISOString()),
    rating: unique.map((_, i) => i % 6),
    starred: unique.map((_, i) => i % 10 === 0),
  };
}

async function main(): Promise<void> {
  const schema = `smartbench_${randomBytes(3).toString('hex')}`;
  const pool = createPool({ url: URL, schema, max: 4 });
  try {
    await migrate(pool, schema, catalogService.migrations!); // the catalog declares its migrations
    const loadS = await loadCatalog(pool, schema, { from: 0, to: TRACKS }, new Set());
    console.log(`loaded ${TRACKS} tracks in ${loadS.toFixed(0)} s`);
    for (const n of [0, 5_000, SMART_MAX_FACTS]) {
      const f = n === 0 ? undefined : facts(n);
      for (const [name, input] of Object.entries(RULES)) {
        const rules = smartRules.parse(input);
        const times: number[] = [];
        let count = 0;
        for (let i = 0; i < RUNS; i++) {
          const started = performance.now();
          count = (await matchTracks(pool, rules, f, 'bench')).length;
          times.push(performance.now() - started);
        }
        times.sort((a, b) => a - b);
        console.log(
          `facts ${String(n).padStart(6)} | ${name.padEnd(44)} | ${String(count).padStart(4)} tracks | median ${times[2]!.toFixed(0)} ms, worst ${times[RUNS - 1]!.toFixed(0)} ms`,
        );
      }
    }
  } finally {
    await dropSchema(pool, schema);
    await pool.end();
  }
}

await main();
