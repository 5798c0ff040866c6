import type { Channel, ChannelModel } from 'amqplib';
import type { Broker } from './broker.js';

/**
 * The channel of one component (an RPC client or server, an event publisher or consumer): set up
 * by the component on every connection the broker makes, forgotten when it closes, and closed
 * once when the component stops. The lifecycle the four share, in one place.
 */
export class AttachedChannel<Ch extends Channel> {
  private channel: Ch | null = null;
  private detach: (() => void) | null = null;
  /** Who waits for the next channel (whenOpen). */
  private readonly waiting = new Set<(ch: Ch | null) => void>();
  /** When the last channel was lost (or opening began): what whenOpen's wait counts from. */
  private lostAt = Date.now();

  /** The open channel, or null while there is none (between connections, after `close`). */
  get current(): Ch | null {
    return this.channel;
  }

  /**
   * Runs `setUp` now and after every reconnect; `onClosed` runs whenever the channel it made
   * closes (the broker then runs `setUp` again, unless `close` was called).
   */
  async open(
    broker: Broker,
    setUp: (model: ChannelModel) => Promise<Ch>,
    onClosed?: (ch: Ch) => void,
  ): Promise<void> {
    this.lostAt = Date.now();
    this.detach = await broker.attach(async (model) => {
      const ch = await setUp(model);
      ch.once('close', () => {
        if (this.channel === ch) {
          this.channel = null;
          this.lostAt = Date.now();
        }
        onClosed?.(ch);
      });
      this.channel = ch;
      for (const wake of this.waiting) wake(ch);
      return [ch];
    });
  }

  /**
   * The open channel, or the next one if it opens within `ms` of losing the last (a reconnect
   * under way); null when none does, or when `close` is called meanwhile. Once the channel has
   * been gone for `ms`, the connection is down rather than being made again: null at once.
   */
  whenOpen(ms: number): Promise<Ch | null> {
    const left = this.lostAt + ms - Date.now();
    if (this.channel || !this.detach || left <= 0) return Promise.resolve(this.channel);
    return new Promise((resolve) => {
      const wake = (ch: Ch | null) => {
        clearTimeout(timer);
        this.waiting.delete(wake);
        resolve(ch);
      };
      const timer = setTimeout(() => wake(null), left);
      this.waiting.add(wake);
    });
  }

  /**
   * Stops setting the channel up again and closes it: `current` is null from the call on, so
   * no new work starts on it, and `finish` runs first, for the work in hand (with the channel,
   * or null when there is none just now: work may be in hand all the same).
   */
  async close(finish?: (ch: Ch | null) => Promise<void>): Promise<void> {
    this.detach?.();
    this.detach = null;
    const ch = this.channel;
    this.channel = null;
    for (const wake of this.waiting) wake(null);
    await finish?.(ch);
    await ch?.close().catch(() => {});
  }
}
