import type { QueueDeclaration } from './events/topology.js';
import type { Contract, MethodSpec } from './rpc/contract.js';

/** A method found by its full name `service.method`. */
export interface MethodEntry {
  contract: Contract;
  name: string;
  spec: MethodSpec;
}

/**
 * Every service of a deployment, by its contract. What is derived from the declarations
 * lives here: the consumer-group queues every publisher declares (so an event published
 * before its consumers first ran waits for them) and the lookup of a method by its full name.
 */
export interface System {
  readonly contracts: ReadonlyMap<string, Contract>;
  /** One queue per (consuming service, event type), from every contract's subscriptions. */
  readonly eventQueues: readonly QueueDeclaration[];
  /** `service.method`, or undefined when no contract declares it. */
  method(fullName: string): MethodEntry | undefined;
}

export function defineSystem(contracts: readonly Contract[]): System {
  const byName = new Map<string, Contract>();
  for (const contract of contracts) {
    if (byName.has(contract.service)) throw new Error(`two contracts for service ${contract.service}`);
    byName.set(contract.service, contract);
  }
  const eventQueues: QueueDeclaration[] = [];
  for (const contract of contracts) {
    const events = new Set<string>();
    for (const [name, sub] of Object.entries(contract.subscriptions)) {
      // The queue is named after the group and the event, so one service subscribes once per event.
      if (events.has(sub.event.type)) {
        throw new Error(`${contract.service}.${name}: ${sub.event.type} is already subscribed`);
      }
      events.add(sub.event.type);
      eventQueues.push({ group: contract.service, event: sub.event.type });
    }
  }
  return {
    contracts: byName,
    eventQueues,
    method(fullName) {
      const dot = fullName.indexOf('.');
      if (dot <= 0) return undefined;
      const contract = byName.get(fullName.slice(0, dot));
      const name = fullName.slice(dot + 1);
      if (!contract || !Object.hasOwn(contract.methods, name)) return undefined;
      return { contract, name, spec: contract.methods[name]! };
    },
  };
}
