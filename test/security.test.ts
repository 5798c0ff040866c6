import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, MIN_SECRET_BYTES, PUBLISHED_SECRETS } from '../common/config.js';
import { SYSTEM } from '../common/contracts/index.js';
import { loadTokenSecrets, SecretError } from '../common/index.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const run = promisify(execFile);

describe('the token secret', () => {
  const dirs: string[] = [];
  const tempDir = async () => {
    const dir = await mkdtemp(join(tmpdir(), 'music-secret-'));
    dirs.push(dir);
    return dir;
  };
  const fromFile = (file: string) => ({ tokenSecret: '', tokenSecretPrevious: '', tokenSecretFile: file });
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('refuses TOKEN_SECRET values that are short or printed in the docs, naming the variable', () => {
    for (const value of ['short', 'x'.repeat(MIN_SECRET_BYTES - 1), ...PUBLISHED_SECRETS]) {
      expect(() => loadConfig({ TOKEN_SECRET: value }), value).toThrow(ConfigError);
      expect(() => loadConfig({ TOKEN_SECRET: value }), value).toThrow(/TOKEN_SECRET=/);
      expect(() => loadConfig({ TOKEN_SECRET_PREVIOUS: value }), value).toThrow(/TOKEN_SECRET_PREVIOUS=/);
    }
    expect(loadConfig({ TOKEN_SECRET: 'y'.repeat(MIN_SECRET_BYTES) }).tokenSecret).toHaveLength(
      MIN_SECRET_BYTES,
    );
    // Unset, there is no default value at all: the users service makes one.
    expect(loadConfig({}).tokenSecret).toBe('');
  });

  it('knows every TOKEN_SECRET value the docs print, so none of them can ever sign a token', async () => {
    const { stdout } = await run('git', ['ls-files', '*.md', '*.yml', '*.yaml', '*.env*', 'Dockerfile'], {
      cwd: ROOT,
    });
    const printed = new Set<string>();
    for (const file of stdout.split('\n').filter(Boolean)) {
      const text = await readFile(join(ROOT, file), 'utf8');
      for (const m of text.matchAll(/TOKEN_SECRET(?:_PREVIOUS)?\s*[=:]\s*["'`]?([^\s"'`$|{}]+)/g))
        printed.add(m[1]!);
    }
    for (const value of printed)
      expect(PUBLISHED_SECRETS, `${value} is printed in the docs`).toContain(value);
  });

  it('is made on first use: random, 32 bytes, owner-only, and the same for every later use', async () => {
    const file = join(await tempDir(), 'data', 'secrets', 'token-secret');
    const first = await loadTokenSecrets(fromFile(file));
    expect(Buffer.from(first.current, 'base64url')).toHaveLength(32);
    expect(first.previous).toEqual([]);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await stat(join(file, '..'))).mode & 0o777).toBe(0o700);
    expect(await loadTokenSecrets(fromFile(file))).toEqual(first);
    // Another install has another secret.
    const other = await loadTokenSecrets(fromFile(join(await tempDir(), 'token-secret')));
    expect(other.current).not.toBe(first.current);
  });

  it('is made once when many workers start together', async () => {
    const file = join(await tempDir(), 'token-secret');
    const all = await Promise.all(Array.from({ length: 12 }, () => loadTokenSecrets(fromFile(file))));
    expect(new Set(all.map((s) => s.current)).size).toBe(1);
  });

  it('refuses a file others can read, and a file holding a weak or published secret', async () => {
    const dir = await tempDir();
    const open = join(dir, 'open');
    await writeFile(open, `${'z'.repeat(40)}\n`, { mode: 0o644 });
    await chmod(open, 0o644);
    await expect(loadTokenSecrets(fromFile(open))).rejects.toThrow(/chmod 600/);
    for (const content of ['short\n', `${PUBLISHED_SECRETS[0]}\n`, '\n']) {
      const file = join(dir, `weak-${content.length}`);
      await writeFile(file, content, { mode: 0o600 });
      await expect(loadTokenSecrets(fromFile(file))).rejects.toBeInstanceOf(SecretError);
    }
  });

  it('rotates: a new current secret, the old one still accepted, then retired', async () => {
    const dir = await tempDir();
    const env = { ...process.env, TOKEN_SECRET: '', TOKEN_SECRET_FILE: join(dir, 'token-secret') };
    const secret = (...args: string[]) =>
      run(process.execPath, ['--import', 'tsx', 'scripts/secret.ts', ...args], { cwd: ROOT, env });
    const before = await loadTokenSecrets(fromFile(env.TOKEN_SECRET_FILE));
    await secret('rotate');
    const rotated = await loadTokenSecrets(fromFile(env.TOKEN_SECRET_FILE));
    expect(rotated.current).not.toBe(before.current);
    expect(rotated.previous).toEqual([before.current]);
    await secret('retire');
    expect(await loadTokenSecrets(fromFile(env.TOKEN_SECRET_FILE))).toEqual({
      current: rotated.current,
      previous: [],
    });
  });
});

describe('who may call what', () => {
  it('is documented in docs/SECURITY.md exactly as the contracts declare it', async () => {
    const doc = await readFile(join(ROOT, 'docs/SECURITY.md'), 'utf8');
    const documented = new Map<string, string>();
    for (const m of doc.matchAll(/^\| `(\w+\.\w+)` \| (public|user|admin|internal) \|/gm))
      documented.set(m[1]!, m[2]!);
    const declared = new Map<string, string>();
    for (const contract of SYSTEM.contracts.values()) {
      for (const [name, spec] of Object.entries(contract.methods))
        declared.set(`${contract.service}.${name}`, spec.visibility);
    }
    expect(Object.fromEntries(documented)).toEqual(Object.fromEntries(declared));
  });
});

describe('the configuration table of docs/CONFIGURATION.md', () => {
  it('lists every setting of common/config.ts with its default, and nothing else', async () => {
    const { configSpec } = await import('../common/config.js');
    const doc = await readFile(join(ROOT, 'docs', 'CONFIGURATION.md'), 'utf8');
    const table = doc.slice(doc.indexOf('| variable | default | meaning |'));
    const rows = new Map<string, string>();
    for (const m of table.matchAll(/^\| `([A-Z_]+)` \| ([^|]+) \|/gm)) rows.set(m[1]!, m[2]!.trim());
    const expected = new Map<string, string>();
    for (const spec of Object.values(configSpec)) {
      const value = String(spec.default);
      expected.set(
        spec.env,
        value === '' ? (spec.env === 'AMQP_NAMESPACE' ? '(empty)' : '(none)') : `\`${value}\``,
      );
    }
    expect(Object.fromEntries(rows)).toEqual(Object.fromEntries(expected));
  });
});
