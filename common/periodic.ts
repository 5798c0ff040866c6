import type { Logger } from 'pino';

export interface PeriodicTaskOptions {
  /** What the logs call it ("play log maintenance"). */
  name: string;
  everyMs: number;
  /** One turn; what it did (logged when not null), or null when there was nothing to do. */
  run: () => Promise<Record<string, unknown> | null>;
  log: Logger;
}

/**
 * Upkeep a worker does every so often (making partitions, pruning old rows): a worker of the
 * service runner (`parts.workers`), so it starts with the service and its turn in hand is
 * finished before the service stops. A failed turn is logged and tried again the next.
 */
export class PeriodicTask {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> = Promise.resolve();

  constructor(private readonly opts: PeriodicTaskOptions) {}

  async start(): Promise<void> {
    this.timer ??= setInterval(() => {
      this.running = this.run();
    }, this.opts.everyMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  /** One turn now (a service may run the first itself, before it takes any work). */
  async run(): Promise<void> {
    try {
      const result = await this.opts.run();
      if (result) this.opts.log.info(result, `${this.opts.name} done`);
    } catch (err) {
      this.opts.log.error({ err }, `${this.opts.name} failed; trying again next turn`);
    }
  }
}
