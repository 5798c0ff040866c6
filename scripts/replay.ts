/**
 * Rebuilds a projection of the event log, or lists them:
 *
 *   npm run replay -- <projection> [--from first|<ISO time>|<offset>] [--restart]
 *   npm run replay -- --list
 *
 * The rebuild goes into fresh tables while the live projection keeps serving, then swaps in
 * and the live one goes on from where it ended (common/projections/replay.ts). A replay that
 * was interrupted resumes where it stopped unless --restart. Progress goes to stderr: a bar on
 * a terminal, a line every two seconds otherwise.
 */
import { Broker } from '../common/amqp/broker.js';
import { brokerUrlFor } from '../common/broker-users.js';
import { config, databaseUrlFor } from '../common/config.js';
import { translateDatabaseError } from '../common/db/errors.js';
import { createPool } from '../common/db/pool.js';
import { type LogPosition, logBounds } from '../common/events/log.js';
import { rootLogger } from '../common/logger.js';
import type { Projection } from '../common/projections/projection.js';
import { type ReplayProgress, replayProjection } from '../common/projections/replay.js';
import { dedupWindowMs } from '../common/service.js';
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
      const bounds = await logBounds(broker);
      console.log(`event log: ${bounds ? `offsets ${bounds.first} to ${bounds.last}` : 'empty'}`);
      console.log(['PROJECTION', 'SERVICE', 'OFFSET', 'APPLIED', 'LAG', 'UPDATED'].join('\t'));
      for (const { service, projection } of all) {
        const pool = createPool({
          url: databaseUrlFor(cfg, service),
          schema: service,
          max: 1,
          applicationName: 'replay',
        });
        try {
          const { rows } = await pool
            .query<{ last_offset: string; applied: string; updated_at: Date }>(
              'SELECT last_offset, applied, updated_at FROM projection_offsets WHERE projection = $1',
              [projection.name],
            )
            .catch(() => ({ rows: [] }));
          const row = rows[0];
          const offset = row ? Number(row.last_offset) : -1;
          const lag = bounds ? bounds.last - offset : 0;
          console.log(
            [
              projection.name,
              service,
              offset,
              row?.applied ?? 0,
              lag,
              row?.updated_at.toISOString() ?? '-',
            ].join('\t'),
          );
        } finally {
          await pool.end();
        }
      }
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
    const fromAt = rest.indexOf('--from');
    const result = await replayProjection({
      projection: entry.projection,
      broker,
      databaseUrl: databaseUrlFor(cfg, entry.service),
      schema: entry.service,
      from: position(fromAt >= 0 ? rest[fromAt + 1] : undefined),
      restart: rest.includes('--restart'),
      logger: log,
      translateError: translateDatabaseError,
      maxAttempts: cfg.eventMaxAttempts,
      dedupWindowMs: dedupWindowMs(cfg),
      onProgress: reporter(),
    });
    for (const note of result.notes) console.log(`note: ${note}`);
    console.log(
      `${entry.projection.name}: ${n(result.applied)} events applied (${result.rejected} rejected) in ${(result.durationMs / 1000).toFixed(1)} s; live from offset ${result.offset + 1}`,
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
