import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { Broker } from '../common/amqp/broker.js';
import { configSpec, DATABASE_OWNERS } from '../common/config.js';
import { SERVICE_NAMES, SYSTEM } from '../common/contracts/index.js';
import type { RpcClient } from '../common/rpc/client.js';
import type { ServiceDefinition } from '../common/service.js';
import { checkHealth } from '../gateway/health.js';
import { bindServices } from '../gateway/services.js';

/**
 * The services of the system are listed once, by SYSTEM (common/contracts/index.ts). Each use
 * of the list is derived here from SYSTEM and compared with what the use holds, so a copy
 * that drifts (a service added to SYSTEM and not to compose, or the other way) fails.
 */
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const read = (path: string) => readFile(`${ROOT}${path}`, 'utf8');
const fromSystem = () => [...SYSTEM.contracts.keys()];

describe('the list of services, from SYSTEM', () => {
  it('is what the scripts and the supervisor run: one definition per service, with its contract', async () => {
    expect([...SERVICE_NAMES]).toEqual(fromSystem());
    for (const name of fromSystem()) {
      // What scripts/services.ts's loadService imports, by the same convention.
      const mod = await import(/* @vite-ignore */ pathToFileURL(`${ROOT}services/${name}/service.ts`).href);
      const def = (mod as Record<string, ServiceDefinition>)[`${name}Service`]!;
      expect(def.name, name).toBe(name);
      expect(def.contract, name).toBe(SYSTEM.contracts.get(name));
    }
    const folders = (await readdir(`${ROOT}services`, { withFileTypes: true }))
      .filter((d) => d.isDirectory())
      .map((d) => d.name);
    expect(folders.sort()).toEqual(fromSystem().sort());
  });

  it('is the services the gateway holds clients of', () => {
    const bound: string[] = [];
    const rpc = { bind: (c: { service: string }) => bound.push(c.service) } as unknown as RpcClient;
    expect(Object.keys(bindServices(rpc))).toEqual(fromSystem());
    expect(bound).toEqual(fromSystem());
  });

  it('is the services /health probes, one each, in order', async () => {
    const checked: string[] = [];
    const rpc = {
      call: async (service: string) => {
        checked.push(service);
        return null;
      },
    } as unknown as RpcClient;
    const report = await checkHealth(
      { broker: { connected: true } as unknown as Broker, db: { query: async () => null }, rpc },
      1000,
    );
    expect(checked).toEqual(fromSystem());
    expect(Object.keys(report.checks)).toEqual(['broker', 'database', ...fromSystem()]);
  });

  it("is the services with a database URL of their own (config's copy)", () => {
    expect([...DATABASE_OWNERS]).toEqual(fromSystem());
    const own = Object.values(configSpec)
      .map((spec) => /^([A-Z]+)_DATABASE_URL$/.exec(spec.env)?.[1]?.toLowerCase())
      .filter((s): s is string => s !== undefined);
    expect(own).toEqual(fromSystem());
  });

  it('is the services docker-compose.yml runs', async () => {
    const compose = await read('docker-compose.yml');
    const run = [...compose.matchAll(/'scripts\/service', '([a-z]+)'\]/g)].map((m) => m[1]);
    expect(run).toEqual(fromSystem());
  });

  it('is not copied into start.sh: the supervisor reads SYSTEM', async () => {
    const start = await read('start.sh');
    expect(start).not.toMatch(/^\s*[A-Z_]+=\((?:\s*[a-z]+)+\s*\)/m);
    const supervisor = await read('scripts/supervisor.ts');
    expect(supervisor).toContain("import { SERVICE_NAMES } from '../common/contracts/index.js';");
  });

  it('is the deployment diagram of docs/DEPLOYMENT.md', async () => {
    const doc = await read('docs/DEPLOYMENT.md');
    for (const name of fromSystem()) expect(doc, name).toContain(name);
  });
});
