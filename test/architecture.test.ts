import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { dirname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Every TypeScript file of the product (not tests or benchmarks) with the files it imports. */
async function importGraph(): Promise<Map<string, string[]>> {
  const { stdout } = await promisify(execFile)('git', ['ls-files', '*.ts'], { cwd: ROOT });
  const files = stdout.split('\n').filter((f) => f && !/^(test|bench)\//.test(f));
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const text = await readFile(join(ROOT, file), 'utf8');
    const targets = [...text.matchAll(/(?:^|\n)\s*(?:import|export)[^;'"]*?from\s+'(\.[^']+)'/g)].map((m) =>
      normalize(join(dirname(file), m[1]!)).replace(/\.js$/, '.ts'),
    );
    graph.set(file, targets);
  }
  return graph;
}

/** Imports from files matching `from` into files matching `to`. */
function crossings(graph: Map<string, string[]>, from: RegExp, to: RegExp, except: RegExp = /^$/): string[] {
  const found: string[] = [];
  for (const [file, targets] of graph) {
    if (!from.test(file)) continue;
    for (const target of targets)
      if (to.test(target) && !except.test(target)) found.push(`${file} -> ${target}`);
  }
  return found;
}

describe('layers point down', () => {
  it('the messaging layer knows nothing of the database, the contracts or the application', async () => {
    const graph = await importGraph();
    expect(
      crossings(
        graph,
        /^common\/(amqp|rpc|events)\//,
        /^common\/(db|contracts)\/|^(services|gateway|client)\//,
      ),
    ).toEqual([]);
  });

  it('the framework in common/ knows nothing of the application built on it', async () => {
    const graph = await importGraph();
    expect(
      crossings(
        graph,
        /^common\/(?!contracts\/)/,
        /^common\/contracts\/|^(services|gateway|client|scripts)\//,
      ),
    ).toEqual([]);
  });

  it('services never import each other, the gateway or the client', async () => {
    const graph = await importGraph();
    const found: string[] = [];
    for (const [file, targets] of graph) {
      const own = /^services\/([^/]+)\//.exec(file)?.[1];
      if (!own) continue;
      for (const target of targets) {
        const other = /^services\/([^/]+)\//.exec(target)?.[1];
        if ((other && other !== own) || /^(gateway|client)\//.test(target))
          found.push(`${file} -> ${target}`);
      }
    }
    expect(found).toEqual([]);
  });

  it('the gateway and the client talk to services only through contracts', async () => {
    const graph = await importGraph();
    expect(crossings(graph, /^(gateway|client)\//, /^services\//)).toEqual([]);
    expect(crossings(graph, /^client\//, /^gateway\//)).toEqual([]);
  });
});
