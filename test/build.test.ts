/**
 * The compiled processes: scripts/build.sh server compiles into dist/ when it is missing or
 * stale, scripts/run.sh (the npm run entry points, start.sh) runs plain node on it with stack
 * traces mapped to the .ts lines, and files that are not code are found in the source tree.
 * On a copy of the sources in a temp folder, so the worktree's own dist/ is left alone.
 */
import { execFile } from 'node:child_process';
import { cp, mkdtemp, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const COPIED = ['common', 'gateway', 'services', 'client', 'scripts', 'tsconfig.json', 'tsconfig.build.json'];
const COPIED_FILES = ['package.json', 'package-lock.json'];

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(dir: string, script: string, args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(join(dir, script), args, { cwd: dir, timeout: 120_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

// A program of the copy's own: where compiled code finds migrations and the web player, then a throw.
const PROBE = `import { WEB_DIST } from '../gateway/web.js';
import { STATS_MIGRATIONS } from '../services/stats/projections.js';

console.log(JSON.stringify({ migrations: STATS_MIGRATIONS, web: WEB_DIST }));
throw new Error('thrown by the probe');
`;

describe('the compiled processes', () => {
  let dir: string;
  const check = async () => (await run(dir, 'scripts/build.sh', ['server', '--check'])).code;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'music-build-'));
    for (const name of [...COPIED, ...COPIED_FILES]) {
      await cp(join(ROOT, name), join(dir, name), { recursive: true, preserveTimestamps: true });
    }
    await symlink(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
    await writeFile(join(dir, 'scripts/probe.ts'), PROBE);
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('are built on first use and when a source is newer, and run as plain node with source maps', async () => {
    expect(await check()).toBe(1);
    // The first run builds, then runs the compiled program.
    const first = await run(dir, 'scripts/run.sh', ['scripts/probe']);
    expect(first.code, first.stderr).toBe(1);
    expect(await check()).toBe(0);
    for (const file of ['dist/scripts/probe.js', 'dist/scripts/probe.js.map', 'dist/gateway/main.js']) {
      expect((await stat(join(dir, file))).isFile(), file).toBe(true);
    }
    // Files that are not code stay in the source tree, and the compiled code finds them there.
    expect(JSON.parse(first.stdout)).toEqual({
      migrations: join(dir, 'services/stats/migrations'),
      web: join(dir, 'web/dist'),
    });
    // The stack trace names the TypeScript source's line, not the compiled file's.
    expect(first.stderr).toContain('thrown by the probe');
    expect(first.stderr).toMatch(new RegExp(`${join(dir, 'scripts/probe.ts')}:5\\b`));
    expect(first.stderr).not.toContain('dist/scripts/probe.js');

    // A source saved after the build makes it stale, and the next run builds again.
    // Just after the stamp, and before the next build's (which is taken when that build begins).
    const built = (await stat(join(dir, 'dist/.built'))).mtime;
    const later = new Date(built.getTime() + 10);
    await utimes(join(dir, 'common/paths.ts'), later, later);
    expect(await check()).toBe(1);
    expect((await run(dir, 'scripts/run.sh', ['scripts/probe'])).code).toBe(1);
    expect(await check()).toBe(0);
    // A failed build keeps the last good dist/ and says why.
    await writeFile(join(dir, 'scripts/probe.ts'), 'const n: number = "not a number";\n');
    const broken = await run(dir, 'scripts/build.sh', ['server']);
    expect(broken.code).not.toBe(0);
    expect(broken.stdout + broken.stderr).toContain('probe.ts');
    expect((await stat(join(dir, 'dist/scripts/probe.js'))).isFile()).toBe(true);
    expect(await check()).toBe(1);
  }, 120_000);
});
