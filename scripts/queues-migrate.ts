/**
 * `npm run queues:migrate`: moves the queues an earlier version declared with other arguments
 * (classic dead-letter and retry queues to quorum queues, quorum request queues to transient
 * classic ones), messages included, on the
 * broker of AMQP_URL in AMQP_NAMESPACE. Run it with the system's workers stopped; the gateway
 * may run (events published meanwhile wait in a holding queue). Safe to run again.
 */
import { Broker, config, nodeOf, parseAmqpUrls, rootLogger } from '../common/index.js';
import { migrateQueues, systemQueues } from './queue-migration.js';

const cfg = config();
const log = rootLogger().child({ service: 'queues-migrate' });
const broker = await Broker.connect({
  url: cfg.amqpUrl,
  name: 'queues-migrate',
  logger: log,
  namespace: cfg.amqpNamespace,
}).catch(() => {
  const nodes = (parseAmqpUrls(cfg.amqpUrl) ?? [cfg.amqpUrl]).map(nodeOf).join(', ');
  console.error(`could not reach the broker (${nodes}); is it running?`);
  process.exit(1);
});
let refused = 0;
try {
  for (const outcome of await migrateQueues(broker, systemQueues(broker))) {
    switch (outcome.result) {
      case 'absent':
        console.log(`${outcome.queue}: not there yet (the system declares it as it starts)`);
        break;
      case 'current':
        console.log(`${outcome.queue}: already as declared`);
        break;
      case 'migrated':
        console.log(`${outcome.queue}: migrated (${outcome.was}), ${outcome.moved} message(s) moved`);
        break;
      case 'refused':
        refused++;
        console.log(`${outcome.queue}: NOT migrated: ${outcome.reason}`);
        break;
    }
  }
} finally {
  await broker.close();
}
if (refused > 0) {
  console.log(`${refused} queue(s) not migrated; stop the workers (./start.sh stop) and run this again`);
  process.exit(1);
}
