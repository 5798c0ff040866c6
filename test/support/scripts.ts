/**
 * The project's infrastructure scripts (scripts/*.sh) as the tests run them: with extra
 * environment, a timeout, and their output in the error when they fail; and a teardown that
 * still runs, synchronously, if the test process exits before its own teardown did.
 */
import { execFile, execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export function scriptPath(name: string): string {
  return fileURLToPath(new URL(`../../scripts/${name}`, import.meta.url));
}

/** Runs a script; resolves with its output (stdout then stderr), rejects with it. */
export function runScript(
  name: string,
  args: string[],
  env: Record<string, string>,
  timeoutMs = 180_000,
): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      scriptPath(name),
      args,
      { env: { ...process.env, ...env }, timeout: timeoutMs, maxBuffer: 10 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`${name} ${args.join(' ')}: ${err.message}\n${stdout}${stderr}`));
        else resolve(`${stdout}${stderr}`);
      },
    );
  });
}

const pending = new Set<() => void>();
process.once('exit', () => {
  for (const teardown of pending) teardown();
});

/**
 * Something a test made outside its process (Erlang VMs, a PostgreSQL server, iptables
 * rules), torn down by `script args` once: by `teardown()`, or at exit if the test died first.
 */
export class ScriptedResource {
  private done = false;
  private readonly atExit = () => {
    try {
      execFileSync(scriptPath(this.name), this.teardownArgs, {
        env: { ...process.env, ...this.env },
        timeout: 120_000,
        stdio: 'ignore',
      });
    } catch {
      // Best effort on the way out.
    }
  };

  constructor(
    private readonly name: string,
    private readonly env: Record<string, string>,
    private readonly teardownArgs: string[],
  ) {
    pending.add(this.atExit);
  }

  run(args: string[], timeoutMs?: number): Promise<string> {
    return runScript(this.name, args, this.env, timeoutMs);
  }

  async teardown(): Promise<void> {
    if (this.done) return;
    this.done = true;
    pending.delete(this.atExit);
    await this.run(this.teardownArgs).catch((err: Error) => process.stderr.write(`${err.message}\n`));
  }
}
