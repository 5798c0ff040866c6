import { type Config, config as loadConfig } from '../common/config.js';
import { rootLogger } from '../common/logger.js';
import { startGateway } from './server.js';

/** The gateway process: start, and on SIGINT/SIGTERM stop accepting, finish requests, close. */
let config: Config;
try {
  config = loadConfig();
} catch (err) {
  // Before the logger exists (it reads the configuration too): one plain line naming the variable.
  console.error((err as Error).message);
  process.exit(1);
}
const log = rootLogger().child({ service: 'gateway' });

try {
  const gateway = await startGateway({ config, logger: log, namespace: config.amqpNamespace });
  gateway.broker.on('fatal', () => {
    log.fatal('lost the broker for good; exiting');
    process.exit(1);
  });
  const shutdown = (signal: string) => {
    log.info({ signal }, 'shutting down');
    gateway.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'error during shutdown');
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
} catch (err) {
  log.fatal({ err }, 'gateway could not start');
  process.exit(1);
}
