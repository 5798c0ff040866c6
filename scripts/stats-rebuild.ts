/**
 * Recomputes every play statistic from the history service's play log and swaps the result
 * in atomically, while the services keep running (see services/stats/rebuild.ts).
 *
 *   npm run stats:rebuild [-- --schema stats] [-- --namespace <broker namespace>]
 *
 * Needs the broker, the stats database schema and a running history service.
 */
import { parseArgs } from 'node:util';
import { historyContract } from '../common/contracts/index.js';
import { Broker, config, createPool, migrate, RpcClient, rootLogger } from '../common/index.js';
import { rebuildStats } from '../services/stats/rebuild.js';
import { STATS_MIGRATIONS } from '../services/stats/service.js';

const { values } = parseArgs({
  options: { schema: { type: 'string', default: 'stats' }, namespace: { type: 'string' } },
});
const cfg = config();
const log = rootLogger().child({ service: 'stats-rebuild' });
const schema = values.schema;
const pool = createPool({ url: cfg.databaseUrl, schema, max: 2, applicationName: 'stats-rebuild' });
let broker: Broker | undefined;
let rpc: RpcClient | undefined;
let failed = false;
try {
  broker = await Broker.connect({
    url: cfg.amqpUrl,
    name: 'stats-rebuild',
    logger: log,
    ...(values.namespace ? { namespace: values.namespace } : {}),
  });
  rpc = new RpcClient({ broker, logger: log, timeoutMs: Math.max(cfg.rpcTimeoutMs, 30_000) });
  await rpc.start();
  // A fresh database: the rebuild needs the stats tables to exist.
  await migrate(pool, schema, STATS_MIGRATIONS, log);
  const result = await rebuildStats({ pool, history: rpc.bind(historyContract), log });
  console.log(
    `rebuilt statistics from ${result.plays} plays: ${result.tracks} tracks, ${result.users} users, ` +
      `in ${(result.durationMs / 1000).toFixed(2)} s`,
  );
} catch (err) {
  failed = true;
  console.error(`stats rebuild failed: ${(err as Error).message}`);
} finally {
  await rpc?.stop();
  await broker?.close();
  await pool.end();
}
process.exit(failed ? 1 : 0);
