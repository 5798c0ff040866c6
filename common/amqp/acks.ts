import type { Channel, Message } from 'amqplib';

/**
 * Acknowledges one channel's deliveries in as few frames as it safely can. Deliveries are
 * taken in delivery-tag order; when the oldest ones are done, one `basic.ack` with
 * `multiple` settles that whole run (a batch of 100 committed events is one frame, not 100,
 * and one settlement command in the quorum queue's log instead of 100). A delivery finished
 * behind one still in progress is acked alone at once, so a slow batch never holds the
 * prefetch window of the others. A multiple ack never covers a delivery whose work is not
 * done: it ends at the newest delivery of the finished run, and that delivery is still
 * unacked (acking a tag twice would close the channel).
 */
export class AckWindow<C extends Channel = Channel> {
  /** Deliveries taken and not yet acked, oldest first. */
  private outstanding: Message[] = [];
  private readonly finished = new Set<number>();

  /** `channel` is the one the deliveries came on: only it can ack them. */
  constructor(readonly channel: C) {}

  /** Records a delivery whose work is starting; call in delivery order. */
  take(msg: Message): void {
    this.outstanding.push(msg);
  }

  /** Acks deliveries whose work is done (committed, or moved to another queue). */
  ack(msgs: readonly Message[]): void {
    for (const msg of msgs) this.finished.add(msg.fields.deliveryTag);
    let run = 0;
    while (run < this.outstanding.length && this.finished.has(this.outstanding[run]!.fields.deliveryTag))
      run++;
    if (run > 0) {
      const settled = this.outstanding.splice(0, run);
      for (const msg of settled) this.finished.delete(msg.fields.deliveryTag);
      this.channel.ack(settled[run - 1]!, run > 1);
    }
    if (this.finished.size === 0) return;
    // Done behind an unfinished delivery: ack each alone.
    this.outstanding = this.outstanding.filter((msg) => {
      if (!this.finished.has(msg.fields.deliveryTag)) return true;
      this.channel.ack(msg);
      return false;
    });
    this.finished.clear();
  }

  /** Deliveries taken and not yet acked. */
  get pending(): number {
    return this.outstanding.length;
  }
}
