import type { Channel, ConsumeMessage } from 'amqplib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AckWindow } from '../common/amqp/acks.js';
import type { Broker } from '../common/amqp/broker.js';
import { cleanupBroker, connectBroker, eventually, namespace } from './support/env.js';

/**
 * AckWindow against the real broker: a multiple ack must settle exactly the finished run and
 * never a delivery still in progress, and finishing out of order must not ack a tag twice
 * (the broker would close the channel with PRECONDITION_FAILED).
 */
describe('AckWindow', () => {
  let ns: string;
  let broker: Broker;
  let ch: Channel;
  let queue: string;
  const frames: Array<{ tag: number; multiple: boolean }> = [];

  /** Fills the queue with `n` messages and takes them all in hand. */
  async function deliver(n: number): Promise<{ acks: AckWindow; msgs: ConsumeMessage[] }> {
    for (let i = 0; i < n; i++) ch.sendToQueue(queue, Buffer.from(String(i)));
    const msgs: ConsumeMessage[] = [];
    // Every ack frame the window sends, to count them.
    const counting = {
      ack: (msg: ConsumeMessage, multiple?: boolean) => {
        frames.push({ tag: msg.fields.deliveryTag, multiple: multiple === true });
        ch.ack(msg, multiple);
      },
    } as unknown as Channel;
    const acks = new AckWindow(counting);
    await ch.consume(queue, (msg) => {
      if (!msg) return;
      acks.take(msg);
      msgs.push(msg);
    });
    await eventually(() => msgs.length === n);
    return { acks, msgs };
  }

  async function redelivered(): Promise<string[]> {
    await ch.close();
    ch = await broker.channel();
    const bodies: string[] = [];
    for (;;) {
      const msg = await ch.get(queue, { noAck: true });
      if (!msg) return bodies.sort((a, b) => Number(a) - Number(b));
      bodies.push(msg.content.toString());
    }
  }

  beforeEach(async () => {
    ns = namespace('acks');
    broker = await connectBroker(ns, 'acks');
    ch = await broker.channel();
    queue = broker.name('q');
    await ch.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    await ch.prefetch(100);
    frames.length = 0;
  });

  afterEach(async () => {
    await ch.close().catch(() => {});
    await broker.close();
    await cleanupBroker(ns);
  });

  it('settles a finished run in one frame', async () => {
    const { acks, msgs } = await deliver(50);
    acks.ack(msgs);
    expect(frames).toEqual([{ tag: msgs[49]!.fields.deliveryTag, multiple: true }]);
    expect(acks.pending).toBe(0);
    expect(await redelivered()).toEqual([]);
  });

  it('never acks a delivery still in progress, and acks later ones alone', async () => {
    const { acks, msgs } = await deliver(10);
    acks.ack(msgs.slice(0, 3));
    acks.ack(msgs.slice(4)); // behind #3, which is still in progress
    expect(frames.filter((f) => f.multiple)).toHaveLength(1);
    expect(acks.pending).toBe(1);
    // The channel is closed with #3 unfinished: only #3 comes back.
    expect(await redelivered()).toEqual(['3']);
  });

  it('finishes out of order without acking a tag twice', async () => {
    const { acks, msgs } = await deliver(20);
    acks.ack(msgs.slice(10)); // the newer batch commits first: acked one by one
    acks.ack(msgs.slice(0, 10)); // then the older one: one multiple ack up to its newest
    expect(frames.at(-1)).toEqual({ tag: msgs[9]!.fields.deliveryTag, multiple: true });
    expect(acks.pending).toBe(0);
    // A double ack would have closed the channel; it still works and nothing is left.
    expect(await ch.checkQueue(queue)).toMatchObject({ messageCount: 0 });
    expect(await redelivered()).toEqual([]);
  });

  it('spans deliveries acked alone with one multiple ack', async () => {
    const { acks, msgs } = await deliver(20);
    acks.ack(msgs.slice(5, 10)); // behind #0-4: acked alone
    acks.ack([...msgs.slice(0, 5), ...msgs.slice(10)]); // one run from #0 to #19 around them
    expect(frames.at(-1)).toEqual({ tag: msgs[19]!.fields.deliveryTag, multiple: true });
    expect(frames).toHaveLength(6);
    expect(await ch.checkQueue(queue)).toMatchObject({ messageCount: 0 });
    expect(await redelivered()).toEqual([]);
  });
});
