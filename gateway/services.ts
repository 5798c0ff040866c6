import { CONTRACTS } from '../common/contracts/index.js';
import { isAppError, type RpcClient, type ServiceClient } from '../common/index.js';

/** Typed clients of the services the gateway's routes call: one per service of the system. */
export type Services = {
  readonly [C in (typeof CONTRACTS)[number] as C['service']]: ServiceClient<C>;
};

export function bindServices(rpc: RpcClient): Services {
  return Object.fromEntries(CONTRACTS.map((c) => [c.service, rpc.bind(c)])) as unknown as Services;
}

/** The value of `lookup`, or undefined when what it looks up does not exist. */
export async function ifFound<T>(lookup: Promise<T>): Promise<T | undefined> {
  try {
    return await lookup;
  } catch (err) {
    if (isAppError(err, 'NOT_FOUND')) return undefined;
    throw err;
  }
}
