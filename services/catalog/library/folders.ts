import { resolve } from 'node:path';
import type { Logger } from 'pino';
import type { Pool } from '../../../common/index.js';
import { libraryFolders } from '../libraries.js';
import { LibraryWatcher } from './watch.js';

export interface FoldersOptions {
  pool: Pool;
  log: Logger;
  rescanMs: number;
  /** A folder watched otherwise (LIBRARY_DIR's own watcher), left alone here. */
  skip?: string;
  /** How often the libraries are read again (libraries added or removed by another worker). */
  pollMs?: number;
}

/**
 * Keeps a LibraryWatcher running for each library with a folder: reads the libraries at start,
 * every `pollMs`, and at once when this worker changed them (`refresh`); watchers of libraries
 * that went are stopped. Each watcher leads or stands by as LibraryWatcher says, so across
 * workers every folder has one importer.
 */
export class LibraryFolders {
  private readonly watchers = new Map<string, LibraryWatcher>();
  private timer: NodeJS.Timeout | null = null;
  private syncing: Promise<void> = Promise.resolve();
  private stopping = false;

  constructor(private readonly opts: FoldersOptions) {}

  async start(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.opts.pollMs ?? 10_000);
    this.timer.unref();
  }

  /** Reads the libraries again and starts or stops watchers to match (one pass at a time). */
  refresh(): Promise<void> {
    this.syncing = this.syncing
      .then(() => this.sync())
      .catch((err: unknown) => {
        this.opts.log.warn(
          { err: (err as Error).message },
          'could not read the libraries; trying again later',
        );
      });
    return this.syncing;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
    await this.syncing;
    await Promise.all([...this.watchers.values()].map((w) => w.stop()));
    this.watchers.clear();
  }

  private async sync(): Promise<void> {
    if (this.stopping) return;
    const skip = this.opts.skip === undefined ? undefined : resolve(this.opts.skip);
    const wanted = new Map(
      (await libraryFolders(this.opts.pool))
        .filter((l) => resolve(l.path) !== skip)
        .map((l) => [`${l.id}:${resolve(l.path)}`, l]),
    );
    for (const [key, watcher] of this.watchers) {
      if (wanted.has(key)) continue;
      this.watchers.delete(key);
      await watcher.stop();
    }
    for (const [key, library] of wanted) {
      if (this.watchers.has(key) || this.stopping) continue;
      const watcher = new LibraryWatcher({
        pool: this.opts.pool,
        folder: library.path,
        libraryId: library.id,
        log: this.opts.log.child({ library: library.id }),
        rescanMs: this.opts.rescanMs,
      });
      this.watchers.set(key, watcher);
      await watcher.start();
    }
  }
}
