import { UnavailableError } from '../../common/index.js';

/**
 * What hashes a password: checking one (a login, a password change's old password, Subsonic's
 * `p=`) or making one (a registration, a new password).
 */
export type HashKind = 'check' | 'make';

export interface HashLimits {
  /** scrypt computations running at once in a worker (libuv's thread pool has 4 threads). */
  slots: number;
  /** Of those, how many may make hashes: checks always keep the rest. */
  makeSlots: number;
  /** Checks that may wait for a slot; beyond, a check is refused at once. */
  checkQueue: number;
  /** Hashes to make that may wait for a slot; beyond, a registration is refused at once. */
  makeQueue: number;
}

export const DEFAULT_HASH_LIMITS: HashLimits = { slots: 4, makeSlots: 1, checkQueue: 64, makeQueue: 8 };

/** Seconds a refused caller is told to wait: a queue drains in well under that. */
const BUSY_RETRY_SECONDS = 2;

interface Waiter {
  start: () => void;
}

/**
 * Bounds the scrypt work of one users worker. Every hash costs tens of milliseconds of a
 * thread-pool thread; without a bound, a flood of registrations queues hundreds of them in
 * the pool and every login waits behind them. Here hashes made (registrations, new
 * passwords) use at most `makeSlots` threads and queue at most `makeQueue` callers, so a flood
 * is refused cheaply (503 with Retry-After) while checks (logins) keep the other slots and
 * go first whenever a slot frees.
 */
export class HashQueue {
  private running = { check: 0, make: 0 };
  private readonly waiting: Record<HashKind, Waiter[]> = { check: [], make: [] };

  constructor(private readonly limits: HashLimits = DEFAULT_HASH_LIMITS) {}

  /** Runs `work` when a slot of its kind is free; refuses at once when its queue is full. */
  async run<T>(kind: HashKind, work: () => Promise<T>): Promise<T> {
    if (!this.mayStart(kind)) {
      const queue = this.waiting[kind];
      const cap = kind === 'check' ? this.limits.checkQueue : this.limits.makeQueue;
      if (queue.length >= cap) {
        throw new UnavailableError(
          kind === 'make'
            ? 'too many accounts and passwords are being set up right now; try again shortly'
            : 'too many logins are being checked right now; try again shortly',
          { retryAfterSeconds: BUSY_RETRY_SECONDS },
        );
      }
      await new Promise<void>((start) => queue.push({ start }));
    } else {
      this.running[kind]++;
    }
    try {
      return await work();
    } finally {
      this.running[kind]--;
      this.next();
    }
  }

  /** Hashes running and waiting, by kind (tests and logs). */
  get load(): { running: Record<HashKind, number>; waiting: Record<HashKind, number> } {
    return {
      running: { ...this.running },
      waiting: { check: this.waiting.check.length, make: this.waiting.make.length },
    };
  }

  private mayStart(kind: HashKind): boolean {
    const busy = this.running.check + this.running.make;
    if (busy >= this.limits.slots) return false;
    return kind === 'check' || this.running.make < this.limits.makeSlots;
  }

  /** Hands a freed slot on: checks first, then a hash to make if its share allows. */
  private next(): void {
    for (const kind of ['check', 'make'] as const) {
      while (this.waiting[kind].length > 0 && this.mayStart(kind)) {
        this.running[kind]++;
        this.waiting[kind].shift()!.start();
      }
    }
  }
}
