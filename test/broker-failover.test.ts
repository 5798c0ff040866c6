/**
 * A broker connection over a list of nodes: it connects to one, moves to another when it loses
 * it (or cannot reach it), and runs its attachments again there. Each "node" here is a TCP
 * proxy of its own in front of the shared RabbitMQ, so cutting one is losing that node for this
 * connection only; the real cluster is in the fault suite (test/faults/broker-node-kill.test.ts).
 */
import { EventEmitter } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { AttachedChannel } from '../common/amqp/attached-channel.js';
import { Broker, backoffMs, nodeOf, shuffled } from '../common/amqp/broker.js';
import { loadConfig, parseAmqpUrls } from '../common/config.js';
import { RpcClient } from '../common/rpc/client.js';
import { defineContract, internalMethod as method } from '../common/rpc/contract.js';
import { RpcServer } from '../common/rpc/server.js';
import { AMQP_URL, cleanupBroker, eventually, namespace, silentLogger, sleep } from './support/env.js';
import { TcpProxy } from './support/proxy.js';

const echo = defineContract('echo', {
  ping: method(z.object({})).returns<{ pong: boolean }>(),
});

function urlVia(port: number): string {
  const u = new URL(AMQP_URL);
  u.hostname = '127.0.0.1';
  u.port = String(port);
  return u.toString();
}

describe('broker node list (unit)', () => {
  it('parses one URL or a comma-separated list, and refuses anything else', () => {
    expect(parseAmqpUrls('amqp://a:5672')).toEqual(['amqp://a:5672']);
    expect(parseAmqpUrls('amqp://u:p@a:5681, amqps://b:5682 ,amqp://c')).toEqual([
      'amqp://u:p@a:5681',
      'amqps://b:5682',
      'amqp://c',
    ]);
    expect(parseAmqpUrls('amqp://a,')).toBeUndefined();
    expect(parseAmqpUrls('http://a:5672')).toBeUndefined();
    expect(parseAmqpUrls('a:5672')).toBeUndefined();
    expect(parseAmqpUrls(Array.from({ length: 17 }, (_, i) => `amqp://n${i}`).join(','))).toBeUndefined();
  });

  it('names a bad AMQP_URL without repeating it (it may hold a password)', () => {
    expect(() => loadConfig({ AMQP_URL: 'amqp://u:s3cret@a,ftp://b' })).toThrow(/AMQP_URL is not a valid/);
    try {
      loadConfig({ AMQP_URL: 'amqp://u:s3cret@a,ftp://b' });
    } catch (err) {
      expect((err as Error).message).not.toContain('s3cret');
    }
    expect(loadConfig({ AMQP_URL: 'amqp://a, amqp://b' }).amqpUrl).toBe('amqp://a,amqp://b');
  });

  it('shuffles the nodes, keeping each once', () => {
    const nodes = ['a', 'b', 'c', 'd'];
    const orders = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const order = shuffled(nodes);
      expect([...order].sort()).toEqual(nodes);
      orders.add(order.join(''));
    }
    expect(orders.size).toBeGreaterThan(10);
  });

  it('backs off from 100 ms doubling to at most 2 s', () => {
    expect(backoffMs(1, () => 0.5)).toBe(100);
    expect(backoffMs(2, () => 0.5)).toBe(200);
    for (let attempt = 1; attempt < 40; attempt++) {
      expect(backoffMs(attempt, () => 1)).toBeLessThanOrEqual(2000);
      expect(backoffMs(attempt, () => 0)).toBeGreaterThanOrEqual(80);
    }
    expect(backoffMs(30, () => 1)).toBe(2000);
  });

  it('logs a node as host:port, never with its credentials', () => {
    expect(nodeOf('amqp://guest:secret@10.0.0.5:5681/vh')).toBe('10.0.0.5:5681');
    expect(nodeOf('amqps://u:p@broker.example')).toBe('broker.example:5671');
  });
});

describe('a channel waited for while the connection is made again (unit)', () => {
  it('waits within the given time of losing the channel, and not once it has been gone that long', async () => {
    const made: EventEmitter[] = [];
    let setUp: ((model: never) => Promise<unknown>) | undefined;
    const broker = {
      attach: async (attachment: (model: never) => Promise<unknown>) => {
        setUp = attachment;
        await attachment({} as never);
        return () => {};
      },
    } as unknown as Broker;
    const attached = new AttachedChannel<never>();
    await attached.open(broker, async () => {
      const ch = new EventEmitter();
      made.push(ch);
      return ch as never;
    });
    made[0]!.emit('close');
    // Just lost: a call waits, and gets the channel made again meanwhile.
    const waiting = attached.whenOpen(300);
    await setUp!({} as never);
    expect(await waiting).toBe(made[1]);
    made[1]!.emit('close');
    // Lost 400 ms ago with a 300 ms wait: the connection is down, not coming back; no wait.
    await new Promise((r) => setTimeout(r, 400));
    const started = Date.now();
    expect(await attached.whenOpen(300)).toBeNull();
    expect(Date.now() - started).toBeLessThan(50);
  });
});

describe('broker failover between nodes', () => {
  let ns: string;
  let proxies: TcpProxy[] = [];
  const brokers: Broker[] = [];
  const servers: Server[] = [];

  beforeEach(async () => {
    ns = namespace('fo');
    const target = new URL(AMQP_URL);
    proxies = await Promise.all(
      [0, 1].map(() => TcpProxy.open({ host: target.hostname, port: Number(target.port || 5672) })),
    );
  });

  afterEach(async () => {
    for (const b of brokers.splice(0)) await b.close();
    for (const p of proxies) await p.close();
    for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
    await cleanupBroker(ns);
  });

  async function connect(urls: string[], name = 'fo'): Promise<Broker> {
    const broker = await Broker.connect({
      url: urls.join(','),
      name: `${name}:${ns}`,
      logger: silentLogger,
      namespace: ns,
    });
    brokers.push(broker);
    return broker;
  }

  /** An echo service on `serving` and its client on `calling`, both started. */
  async function pingService(
    serving: Broker,
    calling: Broker,
    opts: { timeoutMs: number; delayMs?: number },
  ) {
    const server = new RpcServer({
      broker: serving,
      contract: echo,
      handlers: {
        ping: async () => {
          if (opts.delayMs) await sleep(opts.delayMs);
          return { pong: true };
        },
      },
      logger: silentLogger,
    });
    await server.start();
    const client = new RpcClient({ broker: calling, logger: silentLogger, timeoutMs: opts.timeoutMs });
    await client.start();
    const ping = () => client.bind(echo).call('ping', {});
    return { server, client, ping };
  }

  /** The proxy the broker's connection goes through (exactly one carries it). */
  function carrier(): TcpProxy {
    const busy = proxies.filter((p) => p.connections > 0);
    expect(busy).toHaveLength(1);
    return busy[0]!;
  }

  it('moves to the other node when it loses its own, and runs its attachments there again', async () => {
    const broker = await connect(proxies.map((p) => urlVia(p.port)));
    let runs = 0;
    await broker.attach(async (model) => {
      runs++;
      const ch = await model.createChannel();
      await ch.assertQueue(broker.name('failover.probe'), { durable: true });
      return [ch];
    });
    const { server, client, ping } = await pingService(broker, broker, { timeoutMs: 5000 });
    expect(await ping()).toEqual({ pong: true });
    expect(runs).toBe(1);

    for (let round = 0; round < 3; round++) {
      const first = carrier();
      const other = proxies.find((p) => p !== first)!;
      let disconnects = 0;
      broker.once('disconnect', () => disconnects++);
      const cutAt = Date.now();
      await first.cut();
      // Back within the first back-off steps, through the other node.
      await eventually(() => broker.connected && other.connections > 0, 10_000, 20);
      const ms = Date.now() - cutAt;
      expect(ms).toBeLessThan(3000);
      expect(disconnects).toBe(1);
      expect(runs).toBe(round + 2);
      expect(await ping()).toEqual({ pong: true });
      await first.restore();
    }
    await client.stop();
    await server.stop();
  });

  it('gives up a connection gone silent (its node cut off by the network) once a reply is late', async () => {
    // Heartbeats alone would notice after 2 x 30 s: the late reply's probe must, within seconds.
    const broker = await Broker.connect({
      url: proxies.map((p) => urlVia(p.port)).join(','),
      name: `silent:${ns}`,
      logger: silentLogger,
      namespace: ns,
      heartbeatSeconds: 30,
    });
    brokers.push(broker);
    // The service on a connection of its own, which the silence does not touch.
    const direct = await Broker.connect({
      url: AMQP_URL,
      name: `svc:${ns}`,
      logger: silentLogger,
      namespace: ns,
    });
    brokers.push(direct);
    const { server, client, ping } = await pingService(direct, broker, { timeoutMs: 8000 });
    expect(await ping()).toEqual({ pong: true });

    const first = carrier();
    const other = proxies.find((p) => p !== first)!;
    await first.silence();
    const silencedAt = Date.now();
    // Sent into the silence: failed as unavailable once the connection is given up, not left
    // to its 8 s timeout.
    const lost = ping().then(
      () => 'answered',
      (err: Error) => err.name,
    );
    await eventually(() => broker.connected && other.connections > 0, 15_000, 20);
    const movedMs = Date.now() - silencedAt;
    // A reply late by 1 s, checked every 0.25 s, then a probe unanswered for 2 s.
    expect(movedMs).toBeGreaterThanOrEqual(2500);
    expect(movedMs).toBeLessThan(5000);
    expect(await lost).toBe('UnavailableError');
    expect(Date.now() - silencedAt).toBeLessThan(5000);
    expect(await ping()).toEqual({ pong: true });
    await client.stop();
    await server.stop();
  }, 30_000);

  it('keeps a connection whose replies are late only because the service is slow', async () => {
    const broker = await connect(proxies.map((p) => urlVia(p.port)));
    const { server, client, ping } = await pingService(broker, broker, { timeoutMs: 8000, delayMs: 3500 });
    let disconnects = 0;
    broker.on('disconnect', () => disconnects++);
    // Late by 2.5 s: probed (and answered) twice or more, never given up.
    expect(await ping()).toEqual({ pong: true });
    expect(disconnects).toBe(0);
    expect(broker.connected).toBe(true);
    await client.stop();
    await server.stop();
  });

  it('gives up a connection whose attachments do not finish within 10 s, for the next node', async () => {
    const broker = await connect(proxies.map((p) => urlVia(p.port)));
    let runs = 0;
    await broker.attach(async (model) => {
      runs++;
      // The first reconnect's declaration never answers (a node waiting on a lost peer).
      if (runs === 2) await new Promise<void>(() => {});
      return [await model.createChannel()];
    });
    const first = carrier();
    await first.cut();
    await eventually(() => runs === 2, 10_000, 20);
    const stuckAt = Date.now();
    expect(broker.connected).toBe(false);
    await first.restore();
    await eventually(() => broker.connected, 20_000, 50);
    expect(Date.now() - stuckAt).toBeGreaterThanOrEqual(9_500);
    expect(runs).toBe(3);
  }, 40_000);

  it('starts on another node when one of its nodes refuses connections', async () => {
    await proxies[0]!.cut();
    for (let i = 0; i < 4; i++) {
      const broker = await connect([urlVia(proxies[0]!.port), urlVia(proxies[1]!.port)], `start${i}`);
      expect(broker.connected).toBe(true);
    }
    expect(proxies[1]!.connections).toBe(4);
  });

  it('gives up on a node that accepts connections but never answers, after the connect timeout', async () => {
    // A black hole: TCP accepted, not one byte of AMQP back (what a node cut off by dropped
    // packets, or a stuck one, looks like): the attempt ends after 5 s and the next node is tried.
    const held: Socket[] = [];
    const hole = createServer((s) => held.push(s));
    servers.push(hole);
    await new Promise<void>((r) => hole.listen(0, '127.0.0.1', r));
    const started = Date.now();
    const attempt = Broker.connect({
      url: urlVia((hole.address() as { port: number }).port),
      name: `hole:${ns}`,
      logger: silentLogger,
      initialRetries: 1,
    });
    await expect(attempt).rejects.toThrow(/ETIMEDOUT/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(4500);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(held.length).toBe(1);
    for (const s of held) s.destroy();
  }, 30_000);

  it('keeps trying while every node is away, and connects when one comes back', async () => {
    const broker = await connect(proxies.map((p) => urlVia(p.port)));
    for (const p of proxies) await p.cut();
    await eventually(() => !broker.connected, 5000, 20);
    // Both away for 3 s: attempts go on, each refused, at the capped back-off.
    await new Promise((r) => setTimeout(r, 3000));
    const back = Date.now();
    await proxies[1]!.restore();
    await eventually(() => broker.connected, 15_000, 20);
    // Found again within one capped back-off (2 s) and one refused try of the other node.
    expect(Date.now() - back).toBeLessThan(5000);
  });
});
