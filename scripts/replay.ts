/**
 * Rebuilds a projection of the event log, or lists them:
 *
 *   npm run replay -- <projection> [--from first|<ISO time>|<offset>] [--restart]
 *   npm run replay -- --list
 *
 * Every partition of the log is rebuilt at once.
 * The rebuild goes into fresh tables while the live projection keeps serving, then swaps in
 * and the live one goes on from where it ended (common/projections/replay.ts). A replay that
 * was interrupted resumes where it stopped unless --restart. Progress goes to stderr: a bar on
 * a terminal, a line every two seconds otherwise.
 */
import {
  Broker,
  brokerUrlFor,
  config,
  createPool,
  databaseUrlFor,
  dedupWindowMs,
  type LogPosition,
  logPartitionEnds,
  type Projection,
  projectionStandings,
  type ReplayProgress,
  replayProjection,
  rootLogger,
  translateDatabaseError,
} from '../common/index.js';
import { loadService, SERVICE_NAMES } from './services.js';

interface Entry {
  service: string;
  projection: Projection;
}

async function projections(): Promise<Entry[]> {
  const entries: Entry[] = [];
  for (const service of SERVICE_NAMES) {
    for (const projection of (await loadService(service)).projections ?? [])
      entries.push({ service, projection });
  }
  return entries;
}

function position(raw: string | undefined): LogPosition {
  if (raw === undefined || raw === 'first') return 'first';
  if (/^\d+$/.test(raw)) return { offset: Number(raw) };
  const time = Date.parse(raw);
  if (Number.isNaN(time)) throw new Error(`--from takes first, an offset or an ISO time, not ${raw}`);
  return { time: new Date(time) };
}

const n = (x: number) => x.toLocaleString('en-US');

function reporter(): (p: ReplayProgress) => void {
  let lastLine = 0;
  return (p) => {
    const total = p.total ?? 0;
    const eta = p.etaSeconds === null ? '?' : `${p.etaSeconds} s`;
    const figures = `${n(p.applied)} / ${n(total)} events  ${n(p.ratePerSecond)}/s  ETA ${eta}`;
    if (process.stderr.isTTY) {
      const width = 30;
      const done = total > 0 ? Math.min(width, Math.round((p.applied / total) * width)) : width;
      process.stderr.write(`\r[${'#'.repeat(done)}${'.'.repeat(width - done)}] ${figures} ${p.phase}   `);
      if (p.phase === 'done') process.stderr.write('\n');
    } else if (p.phase !== 'replaying' || Date.now() - lastLine > 2000) {
      lastLine = Date.now();
      process.stderr.write(`replay: ${p.phase} ${figures}\n`);
    }
  };
}

/**
 * Every projection's partitions: the worker leading each (from the group's locks: none when
 * nobody does), the offset applied, and the lag behind the partition's newest event.
 */
async function list(broker: Broker, all: Entry[], count: number): Promise<void> {
  const log = await logPartitionEnds(broker, count);
  const cfg = config();
  console.log(
    ['PROJECTION', 'SERVICE', 'PARTITION', 'LEADER', 'DB_PID', 'OFFSET', 'LAG', 'APPLIED', 'UPDATED'].join(
      '\t',
    ),
  );
  for (const { service, projection } of all) {
    const pool = createPool({
      url: databaseUrlFor(cfg, service),
      schema: service,
      max: 1,
      applicationName: 'replay',
    });
    try {
      for (const s of await projectionStandings(pool, service, projection.name, log)) {
        console.log(
          [
            s.projection,
            service,
            s.partition,
            s.leader ?? '-',
            s.dbPid ?? '-',
            s.offset,
            s.lag,
            s.applied,
            s.updatedAt ?? '-',
          ].join('\t'),
        );
      }
    } finally {
      await pool.end();
    }
  }
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const cfg = config();
  const log = rootLogger().child({ service: 'replay' });
  const all = await projections();
  const broker = await Broker.connect({
    url: await brokerUrlFor(cfg, 'replay', cfg.amqpNamespace),
    name: 'replay',
    logger: log,
    namespace: cfg.amqpNamespace,
  });
  try {
    if (args[0] === '--list' || args.length === 0) {
      await list(broker, all, cfg.eventLogPartitions);
      return 0;
    }
    const [name, ...rest] = args;
    const entry = all.find((e) => e.projection.name === name);
    if (!entry) {
      console.error(
        `usage: npm run replay -- <${all.map((e) => e.projection.name).join('|')}> [--from first|<ISO time>|<offset>] [--restart] | --list`,
      );
      return 2;
    }
    if (entry.projection.tables.length === 0) {
      console.error(
        `${name} keeps no view to rebuild (it has no tables of its own); a replay would only repeat its effects`,
      );
      return 2;
    }
    const fromAt = rest.indexOf('--from');
    const result = await replayProjection({
      projection: entry.projection,
      broker,
      databaseUrl: databaseUrlFor(cfg, entry.service),
      schema: entry.service,
      partitions: cfg.eventLogPartitions,
      from: position(fromAt >= 0 ? rest[fromAt + 1] : undefined),
      restart: rest.includes('--restart'),
      logger: log,
      translateError: translateDatabaseError,
      maxAttempts: cfg.eventMaxAttempts,
      dedupWindowMs: dedupWindowMs(cfg),
      onProgress: reporter(),
    });
    for (const note of result.notes) console.log(`note: ${note}`);
    const at = Object.entries(result.offsets)
      .map(([p, o]) => `${p}@${o + 1}`)
      .join(' ');
    console.log(
      `${entry.projection.name}: ${n(result.applied)} events applied (${result.rejected} rejected) in ${(result.durationMs / 1000).toFixed(1)} s; live from ${at || 'the start'}`,
    );
    return 0;
  } finally {
    await broker.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`replay: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
