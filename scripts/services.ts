import { SERVICE_NAMES, type ServiceName } from '../common/contracts/index.js';
import { type ProcessKind, type ServiceDefinition, type System, systemKinds } from '../common/index.js';

/** Every service of the system (common/contracts); each lives in services/<name>/service.ts. */
export { SERVICE_NAMES, type ServiceName };

export function isServiceName(name: string | undefined): name is ServiceName {
  return (SERVICE_NAMES as readonly string[]).includes(name ?? '');
}

/** Imports a service's definition by name (one place that knows the layout convention). */
export async function loadService(name: ServiceName): Promise<ServiceDefinition> {
  const mod = (await import(`../services/${name}/service.js`)) as Record<string, unknown>;
  const def = mod[`${name}Service`] as ServiceDefinition | undefined;
  if (!def || typeof def.setup !== 'function') {
    throw new Error(`services/${name}/service.ts does not export ${name}Service`);
  }
  return def;
}

/** Every kind of process of the system as the broker sees it (common/broker-users.ts). */
export async function processKinds(system: System): Promise<ProcessKind[]> {
  const readers = new Set<string>();
  for (const name of SERVICE_NAMES) if ((await loadService(name)).projections?.length) readers.add(name);
  return systemKinds(system, readers);
}
