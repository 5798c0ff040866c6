/**
 * `npm run broker-users`: creates (or updates) the broker user of every kind of process of the
 * system in AMQP_NAMESPACE, with its password (derived from the broker secret in
 * BROKER_SECRET_FILE, made on first use) and its permissions (common/broker-users.ts), through
 * the management API as AMQP_URL's user, an administrator. ./start.sh runs it at every start;
 * `--delete` removes them. Passwords are never printed.
 */

import { SYSTEM } from '../common/contracts/index.js';
import {
  brokerAdmin,
  brokerUserName,
  config,
  deleteBrokerUsers,
  loadBrokerSecret,
  putBrokerUsers,
  systemUsers,
  waitForManagement,
} from '../common/index.js';
import { processKinds } from './services.js';

const cfg = config();
const admin = brokerAdmin(cfg);
const remove = process.argv[2] === '--delete';
if (!cfg.brokerUsers && !remove) {
  console.log("BROKER_USERS=false: every process connects with AMQP_URL's credentials; no users to make");
  process.exit(0);
}
await waitForManagement(admin);
if (remove) {
  const deleted = await deleteBrokerUsers(admin, brokerUserName(cfg.amqpNamespace, ''));
  console.log(`deleted ${deleted.length} broker user(s): ${deleted.join(', ') || '-'}`);
} else {
  const users = systemUsers(
    await processKinds(SYSTEM),
    SYSTEM,
    cfg.amqpNamespace,
    await loadBrokerSecret(cfg),
  );
  await putBrokerUsers(admin, users);
  console.log(`broker users ready on ${admin.url}: ${users.map((u) => u.name).join(', ')}`);
  if (!cfg.brokerUsers)
    console.log('BROKER_USERS=false: the processes connect with AMQP_URL’s credentials instead');
}
