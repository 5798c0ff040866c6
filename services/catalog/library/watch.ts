import { resolve, sep } from 'node:path';
import type { Logger } from 'pino';
import type { Pool, PoolClient } from '../../../common/index.js';
import { type ImportSummary, importFolder } from './import.js';
import { TreeWatcher } from './tree-watch.js';

export interface WatchOptions {
  pool: Pool;
  /** The library folder. */
  folder: string;
  /** The library it is (default: the library whose folder it is, or library 1). */
  libraryId?: number;
  log: Logger;
  /** Between full comparisons of the folder (a safety net for events the watch missed). */
  rescanMs: number;
  /** Quiet time after the last change before importing what changed (a copy in progress settles). */
  settleMs?: number;
  /** How often a standby tries for the lead. */
  standbyMs?: number;
  /** Reading threads for each import (TagReader). */
  threads?: number;
  /** After each import this watcher ran. */
  onImport?: (summary: ImportSummary, paths: readonly string[] | 'all') => void;
}

/**
 * Keeps the catalog in step with a library folder. Every catalog worker (and `npm run import
 * -- <folder> --watch`) may run one; the one holding the folder's advisory lock leads: it
 * imports the whole folder, then watches it (TreeWatcher: an fs.watch per folder, new folders
 * included) and imports only the paths that changed,
 * once they have been quiet for `settleMs`, and the whole folder again every `rescanMs`. The
 * others stand by and take over within `standbyMs` when the leader stops or its connection
 * goes. Imports themselves take the import lock, so a one-off `npm run import` of the same
 * folder waits for the watcher's turn rather than racing it: no file is imported twice.
 */
export class LibraryWatcher {
  leading = false;
  /** What this watcher's imports did: runs, and files whose tags they read. */
  readonly counters = { imports: 0, filesRead: 0, removed: 0 };
  private readonly root: string;
  private stopping = false;
  private readonly stopped = new AbortController();
  private loop: Promise<void> | null = null;
  private wake: (() => void) | null = null;

  constructor(private readonly opts: WatchOptions) {
    this.root = resolve(opts.folder);
  }

  async start(): Promise<void> {
    this.loop = this.run();
  }

  /** Ends the import in hand after the files being read, stops watching and lets go of the lead. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.stopped.abort();
    this.wake?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      try {
        await this.lead();
      } catch (err) {
        if (!this.stopping)
          this.opts.log.warn({ err: (err as Error).message }, 'library watch paused; trying again');
      }
      if (!this.stopping) await this.sleep(this.opts.standbyMs ?? 1000);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      timer.unref();
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private async lead(): Promise<void> {
    const client = await this.opts.pool.connect();
    const connection: { lost: Error | null } = { lost: null };
    const onError = (err: Error) => {
      connection.lost = err;
      this.wake?.();
    };
    client.on('error', onError);
    const key = `.catalog.library-watch:${this.root}`;
    try {
      const { rows } = await client.query<{ ok: boolean }>(
        'SELECT pg_try_advisory_lock(hashtext(current_schema() || $1)) AS ok',
        [key],
      );
      if (!rows[0]?.ok) return;
      this.leading = true;
      try {
        await this.watchWhileLeading(client, () => connection.lost);
      } finally {
        this.leading = false;
        if (!connection.lost)
          await client.query('SELECT pg_advisory_unlock(hashtext(current_schema() || $1))', [key]);
      }
    } finally {
      client.off('error', onError);
      client.release(connection.lost ?? undefined);
    }
  }

  private async watchWhileLeading(lock: PoolClient, lost: () => Error | null): Promise<void> {
    const log = this.opts.log;
    const changed = new Set<string>();
    let lastEvent = 0;
    let overflow = false;
    const tree = new TreeWatcher(this.root, {
      onChange: (path) => {
        changed.add(path);
        lastEvent = Date.now();
        this.wake?.();
      },
      onLost: (reason) => {
        log.warn({ reason }, 'library watch lost events; comparing the whole folder');
        overflow = true;
        this.wake?.();
      },
    });
    log.info({ folder: this.root }, 'leading: importing and watching the library folder');
    try {
      await tree.start();
      await this.importPaths('all');
      let lastFull = Date.now();
      const settle = this.opts.settleMs ?? 1000;
      while (!this.stopping) {
        const error = lost();
        if (error) throw error;
        const quietFor = Date.now() - lastEvent;
        if (overflow || Date.now() - lastFull >= this.opts.rescanMs) {
          overflow = false;
          changed.clear();
          await this.importPaths('all');
          lastFull = Date.now();
        } else if (changed.size > 0 && quietFor >= settle) {
          const paths = outermost([...changed]);
          changed.clear();
          await this.importPaths(paths);
        } else {
          // Keep the lock's connection in use, so a lost one is noticed within a turn.
          await lock.query('SELECT 1');
          await this.sleep(changed.size > 0 ? settle - quietFor + 10 : Math.min(5000, settle * 5));
        }
      }
    } finally {
      tree.close();
    }
  }

  private async importPaths(paths: readonly string[] | 'all'): Promise<void> {
    const summary = await importFolder(this.opts.pool, this.root, {
      signal: this.stopped.signal,
      ...(paths === 'all' ? {} : { paths }),
      ...(this.opts.threads === undefined ? {} : { threads: this.opts.threads }),
      ...(this.opts.libraryId === undefined ? {} : { libraryId: this.opts.libraryId }),
    });
    this.counters.imports++;
    this.counters.filesRead += summary.read;
    this.counters.removed += summary.removed.tracks;
    const t = summary.tracks;
    const p = summary.playlists;
    if (
      t.inserted + t.updated + summary.removed.tracks + summary.skipped.length + p.published + p.removed >
      0
    ) {
      this.opts.log.info(
        {
          paths: paths === 'all' ? 'all' : paths.length,
          inserted: t.inserted,
          updated: t.updated,
          removed: summary.removed.tracks,
          skipped: summary.skipped.length,
          playlists: p.published + p.removed,
          ms: summary.elapsedMs,
        },
        'library imported',
      );
    }
    this.opts.onImport?.(summary, paths);
  }
}

/** The paths with none of their folders among them (a folder's import covers what is in it). */
function outermost(paths: string[]): string[] {
  const all = new Set(paths);
  return [...all].filter((p) => {
    for (let i = p.lastIndexOf(sep); i > 0; i = p.lastIndexOf(sep, i - 1)) {
      if (all.has(p.slice(0, i))) return false;
    }
    return true;
  });
}
