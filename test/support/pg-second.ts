/**
 * A second PostgreSQL server of the test's own, made by scripts/pg-second.sh (Debian's
 * pg_createcluster) on a free port under a name of its own, and dropped at the end, also when
 * the test process dies. Needs root; `unavailable()` says why not where it cannot run.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { freePort } from './local-infra.js';
import { ScriptedResource } from './scripts.js';

export class SecondPostgres {
  private url = '';
  /** `drop` also runs if the test process dies: no server of ours stays. */
  private readonly resource: ScriptedResource;

  private constructor(env: Record<string, string>) {
    this.resource = new ScriptedResource('pg-second.sh', env, ['drop']);
  }

  /** The music role on this server's postgres database: where run databases are made. */
  get adminUrl(): string {
    return this.url;
  }

  /** Null when a second server can be made here, else the reason it cannot. */
  static unavailable(): string | null {
    if (process.getuid?.() !== 0) return 'a second PostgreSQL server needs root (pg_createcluster)';
    if (!existsSync('/usr/bin/pg_createcluster')) return "Debian's pg_createcluster is not installed";
    return null;
  }

  static async start(label = 't'): Promise<SecondPostgres> {
    const pg = new SecondPostgres({
      PG_SECOND_NAME: `music_${label}_${randomBytes(3).toString('hex')}`,
      PG_SECOND_PORT: String(await freePort()),
    });
    try {
      const out = await pg.resource.run(['start']);
      pg.url = out.split('\n').find((line) => line.startsWith('postgres://')) ?? '';
      if (!pg.url) throw new Error(`pg-second.sh start printed no URL:\n${out}`);
      return pg;
    } catch (err) {
      await pg.drop();
      throw err;
    }
  }

  /** Stops the server (fast shutdown: every connection is cut). */
  async stop(): Promise<void> {
    await this.resource.run(['stop']);
  }

  async start(): Promise<void> {
    await this.resource.run(['start']);
  }

  /** Stops and removes the server with its data. */
  drop(): Promise<void> {
    return this.resource.teardown();
  }
}
