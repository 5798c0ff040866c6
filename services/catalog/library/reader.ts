import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { PARSE_OPTIONS, type ParsedFile } from './tags.js';

/**
 * Reads files with music-metadata on reading threads, so parsing uses every core while the
 * importer's own thread stats files and writes batches. Each thread keeps a few files in
 * flight (their reads overlap); only `common` and `format` come back (no covers, no native
 * frames), a small structured clone.
 *
 * The threads run a short script given as text: it needs only music-metadata, found by the
 * URL this module resolves, so it runs the same from source (tsx, vitest) and compiled.
 */
const THREAD_SCRIPT = `
const { parentPort, workerData } = require('node:worker_threads');
import(workerData.musicMetadata).then(({ parseFile }) => {
  parentPort.on('message', ({ id, path }) => {
    parseFile(path, workerData.options).then(
      (meta) => parentPort.postMessage({ id, meta: { common: meta.common, format: meta.format } }),
      (err) => parentPort.postMessage({ id, error: String((err && err.message) || err) }),
    );
  });
  parentPort.postMessage({ ready: true });
});
`;

/** Files each thread parses at once. */
const IN_FLIGHT_PER_THREAD = 8;

export interface ReaderOptions {
  /** Reading threads; 0 parses on the calling thread. Default: one per core, at most 4. */
  threads?: number;
}

interface Pending {
  resolve: (meta: ParsedFile) => void;
  reject: (err: Error) => void;
}

export class TagReader {
  private readonly threads: Array<{ worker: Worker; busy: number; ready: Promise<void> }> = [];
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private failure: Error | null = null;

  constructor(opts: ReaderOptions = {}) {
    const count = opts.threads ?? Math.min(4, availableParallelism());
    const musicMetadata = import.meta.resolve('music-metadata');
    for (let i = 0; i < count; i++) {
      const worker = new Worker(THREAD_SCRIPT, {
        eval: true,
        workerData: { musicMetadata, options: PARSE_OPTIONS },
      });
      const ready = new Promise<void>((resolve, reject) => {
        worker.once('message', () => resolve());
        worker.once('error', reject);
      });
      worker.on('message', (msg: { id?: number; meta?: ParsedFile; error?: string }) => {
        if (msg.id === undefined) return;
        const p = this.pending.get(msg.id);
        this.pending.delete(msg.id);
        thread.busy--;
        if (msg.error !== undefined) p?.reject(new Error(msg.error));
        else p?.resolve(msg.meta!);
      });
      worker.on('error', (err) => this.fail(err));
      const thread = { worker, busy: 0, ready };
      this.threads.push(thread);
    }
  }

  /** How many files a caller should keep in flight to keep every thread busy. */
  get capacity(): number {
    return Math.max(1, this.threads.length) * IN_FLIGHT_PER_THREAD;
  }

  /** music-metadata's answer for one file (rejects as parseFile would). */
  async read(path: string): Promise<ParsedFile> {
    if (this.failure) throw this.failure;
    if (this.threads.length === 0) {
      // Loaded on first use: a worker that never scans a folder starts without it.
      const { parseFile } = await import('music-metadata');
      return parseFile(path, PARSE_OPTIONS);
    }
    let thread = this.threads[0]!;
    for (const t of this.threads) if (t.busy < thread.busy) thread = t;
    await thread.ready;
    thread.busy++;
    const id = this.nextId++;
    return new Promise<ParsedFile>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      thread.worker.postMessage({ id, path });
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.threads.map((t) => t.worker.terminate()));
    this.threads.length = 0;
    this.fail(new Error('the tag reader is closed'));
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}
