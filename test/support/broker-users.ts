import {
  type BrokerAdmin,
  loadBrokerSecret,
  type ProcessKind,
  putBrokerUsers,
  systemKinds,
  systemUsers,
} from '../../common/broker-users.js';
import { SYSTEM } from '../../common/contracts/index.js';
import { testBrokerAdmin } from './env.js';
import { SERVICE_DEFINITIONS } from './services.js';

/** The services that read the event log (their projections). */
export const LOG_READERS = new Set(
  SERVICE_DEFINITIONS.filter((d) => d.projections?.length).map((d) => d.name),
);

/** Every kind of process of the system, as `npm run broker-users` finds them. */
export function testKinds(): ProcessKind[] {
  return systemKinds(SYSTEM, LOG_READERS);
}

/**
 * Makes the broker users of a system in namespace `ns` as `npm run broker-users` would, their
 * passwords from the broker secret in `secretFile` (made when missing). `cleanupBroker(ns)`
 * deletes them.
 */
export async function makeBrokerUsers(
  ns: string,
  secretFile: string,
  admin: BrokerAdmin = testBrokerAdmin(),
): Promise<void> {
  const secret = await loadBrokerSecret({ brokerSecretFile: secretFile });
  await putBrokerUsers(admin, systemUsers(testKinds(), SYSTEM, ns, secret));
}
