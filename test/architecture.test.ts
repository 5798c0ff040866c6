import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { dirname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Every TypeScript file of the product (not tests; benchmarks with `withBench`) with the files it imports. */
async function importGraph(withBench = false): Promise<Map<string, string[]>> {
  const { stdout } = await promisify(execFile)('git', ['ls-files', '*.ts', '*.tsx'], { cwd: ROOT });
  const skip = withBench ? /^test\// : /^(test|bench)\//;
  const files = stdout.split('\n').filter((f) => f && !skip.test(f));
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

describe('common/ has one public entry', () => {
  it('code outside common/ imports the framework from common/index.ts and contracts from common/contracts/index.ts', async () => {
    const graph = await importGraph(true);
    // The web player's browser bundle cannot load index.ts (Node's crypto, through the event
    // definitions): it takes types from it and its rules from common/contracts/browser.ts.
    const entries = /^common\/(index|contracts\/index)\.ts$/;
    const browser = /^common\/contracts\/browser\.ts$/;
    const found: string[] = [];
    for (const [file, targets] of graph) {
      if (file.startsWith('common/')) continue;
      for (const target of targets)
        if (
          target.startsWith('common/') &&
          !entries.test(target) &&
          !(file.startsWith('web/') && browser.test(target))
        )
          found.push(`${file} -> ${target}`);
    }
    expect(found).toEqual([]);
    // The check reads what it should: the gateway's HTTP layer uses the framework's entry.
    expect(graph.get('gateway/http.ts')).toContain('common/index.ts');
  });
});
