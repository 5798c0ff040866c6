import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { Broker } from '../common/amqp/broker.js';
import {
  ConflictError,
  ErrorCodes,
  InternalError,
  InvalidParamsError,
  NotFoundError,
  TimeoutError,
  UnavailableError,
} from '../common/errors.js';
import { RpcClient } from '../common/rpc/client.js';
import { defineContract, internalMethod as method } from '../common/rpc/contract.js';
import { RpcServer, type RpcServerOptions } from '../common/rpc/server.js';
import { DIRECT_REPLY_TO, rpcQueue } from '../common/rpc/wire.js';
import { currentTraceId, withTrace } from '../common/trace.js';
import {
  cleanupBroker,
  closeConnections,
  connectBroker,
  eventually,
  namespace,
  silentLogger,
  sleep,
} from './support/env.js';

const mathContract = defineContract('math', {
  add: method(z.object({ a: z.number(), b: z.number() })).returns<{ sum: number }>(),
  find: method(z.object({ id: z.string().min(1) })).returns<{ id: string }>(),
  slow: method(z.object({ ms: z.number().int().min(0) })).returns<{ worker: string }>(),
  whoami: method(z.object({})).returns<{ traceId: string | undefined; user: string | undefined }>(),
  bump: method(z.object({ n: z.number() })).returns<null>(),
});

function handlersFor(worker: string, seen: number[] = []) {
  return {
    add: async ({ a, b }: { a: number; b: number }) => ({ sum: a + b }),
    find: async ({ id }: { id: string }) => {
      if (id === 'taken') throw new ConflictError('id is taken', { id });
      throw new NotFoundError(`no thing ${id}`);
    },
    slow: async ({ ms }: { ms: number }) => {
      seen.push(ms);
      await sleep(ms);
      return { worker };
    },
    whoami: async (_: unknown, ctx: { traceId: string; caller?: { username: string } | undefined }) => ({
      traceId: currentTraceId() ?? ctx.traceId,
      user: ctx.caller?.username,
    }),
    bump: async ({ n }: { n: number }) => {
      seen.push(n);
      return null;
    },
  };
}

describe('JSON-RPC over RabbitMQ', () => {
  let ns: string;
  let broker: Broker;
  let client: RpcClient;
  const servers: RpcServer<typeof mathContract>[] = [];
  const extraBrokers: Broker[] = [];

  async function startServer(
    worker = 'w1',
    seen?: number[],
    opts: Partial<RpcServerOptions<typeof mathContract>> = {},
  ) {
    const b = await connectBroker(ns, `server-${worker}`);
    extraBrokers.push(b);
    const server = new RpcServer({
      broker: b,
      contract: mathContract,
      handlers: handlersFor(worker, seen),
      logger: silentLogger,
      ...opts,
    });
    await server.start();
    servers.push(server);
    return server;
  }

  /** Sends a raw body (a batch, broken JSON) to `math`'s queue and resolves with the parsed reply. */
  async function sendRaw(body: string): Promise<unknown> {
    const ch = await broker.channel();
    try {
      const reply = new Promise<unknown>((resolve) => {
        void ch.consume(DIRECT_REPLY_TO, (msg) => msg && resolve(JSON.parse(msg.content.toString('utf8'))), {
          noAck: true,
        });
      });
      // The consumer is in place once the channel answers a later call.
      await ch.checkQueue(broker.name(rpcQueue('math')));
      ch.sendToQueue(broker.name(rpcQueue('math')), Buffer.from(body), {
        replyTo: DIRECT_REPLY_TO,
        correlationId: 'raw',
      });
      return await reply;
    } finally {
      await ch.close().catch(() => {});
    }
  }

  beforeEach(async () => {
    ns = namespace('rpc');
    broker = await connectBroker(ns, 'client');
    client = new RpcClient({ broker, logger: silentLogger, timeoutMs: 2000 });
    await client.start();
  });

  afterEach(async () => {
    for (const s of servers.splice(0)) await s.stop();
    await client.stop();
    await broker.close();
    for (const b of extraBrokers.splice(0)) await b.close();
    await cleanupBroker(ns);
  });

  it('round-trips a typed call', async () => {
    await startServer();
    const math = client.bind(mathContract);
    await expect(math.call('add', { a: 2, b: 3 })).resolves.toEqual({ sum: 5 });
  });

  it('answers a batch with one response per request, skipping notifications', async () => {
    const seen: number[] = [];
    await startServer('w1', seen);
    const body = JSON.stringify([
      { jsonrpc: '2.0', id: 1, method: 'math.add', params: { a: 1, b: 1 } },
      { jsonrpc: '2.0', method: 'math.bump', params: { n: 7 } },
      { jsonrpc: '2.0', id: 2, method: 'math.nope', params: {} },
      { jsonrpc: '2.0', id: 3, method: 'math.add', params: { a: 'x', b: 1 } },
    ]);
    const reply = (await sendRaw(body)) as Array<{
      id: number;
      result?: unknown;
      error?: { code: number };
    }>;
    expect(reply).toHaveLength(3);
    expect(reply.find((r) => r.id === 1)?.result).toEqual({ sum: 2 });
    expect(reply.find((r) => r.id === 2)?.error?.code).toBe(ErrorCodes.METHOD_NOT_FOUND);
    expect(reply.find((r) => r.id === 3)?.error?.code).toBe(ErrorCodes.INVALID_PARAMS);
    await eventually(() => seen.includes(7));
  });

  it('refuses a batch longer than its maxBatchLength with one error', async () => {
    await startServer('w1', [], { maxBatchLength: 2 });
    const add = (id: number) => ({ jsonrpc: '2.0', id, method: 'math.add', params: { a: id, b: 1 } });
    expect(await sendRaw(JSON.stringify([add(1), add(2)]))).toHaveLength(2);
    // jayson's code for it, in the specification's range of server errors.
    expect(await sendRaw(JSON.stringify([add(1), add(2), add(3)]))).toMatchObject({
      id: null,
      error: { code: -32099 },
    });
  });

  it('takes an unreadable reply as a fault of the service (-32603), not of the caller', async () => {
    const ch = await broker.channel();
    try {
      const queue = broker.name(rpcQueue('garbled'));
      await ch.assertQueue(queue, { durable: false });
      await ch.consume(
        queue,
        (msg) => {
          if (!msg) return;
          ch.sendToQueue(msg.properties.replyTo as string, Buffer.from('{"jsonrpc": "2.0", "res'), {
            correlationId: msg.properties.correlationId as string,
          });
        },
        { noAck: true },
      );
      const err = await client.call('garbled', 'anything', {}).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InternalError);
      expect(err).toMatchObject({ code: ErrorCodes.INTERNAL });
    } finally {
      await ch.close().catch(() => {});
    }
  });

  it('runs notifications without replying', async () => {
    const seen: number[] = [];
    await startServer('w1', seen);
    await client.notify('math', 'bump', { n: 42 });
    await eventually(() => seen.includes(42));
    expect(client.pendingCount).toBe(0);
  });

  it('answers an unknown method with -32601', async () => {
    await startServer();
    await expect(client.call('math', 'divide', { a: 1 })).rejects.toMatchObject({
      code: ErrorCodes.METHOD_NOT_FOUND,
    });
  });

  it('answers bad params with -32602 naming the field', async () => {
    await startServer();
    const err = await client.call('math', 'add', { a: 1, b: 'two' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidParamsError);
    expect((err as Error).message).toMatch(/\bb\b.*number/);
    const positional = await sendRaw('{"jsonrpc":"2.0","id":9,"method":"math.add","params":[1,2]}');
    expect(positional).toMatchObject({ error: { code: -32602 } });
  });

  it('rebuilds domain errors with their code and data on the caller side', async () => {
    await startServer();
    const math = client.bind(mathContract);
    const notFound = await math.call('find', { id: 'x' }).catch((e: unknown) => e);
    expect(notFound).toBeInstanceOf(NotFoundError);
    const conflict = await math.call('find', { id: 'taken' }).catch((e: unknown) => e);
    expect(conflict).toBeInstanceOf(ConflictError);
    expect((conflict as ConflictError).data).toEqual({ id: 'taken' });
    expect((conflict as Error).stack).not.toMatch(/handlersFor/);
  });

  it('answers malformed JSON with a parse error', async () => {
    await startServer();
    await expect(sendRaw('{"jsonrpc": "2.0", "method"')).resolves.toMatchObject({
      error: { code: ErrorCodes.PARSE_ERROR },
      id: null,
    });
  });

  it('times out with a typed error when no worker answers, and the broker drops the request', async () => {
    const server = await startServer();
    await server.stop(); // the queue exists, but nobody consumes it
    servers.length = 0;
    const started = Date.now();
    const err = await client.call('math', 'add', { a: 1, b: 2 }, { timeoutMs: 300 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    expect(Date.now() - started).toBeLessThan(1500);
    expect(client.pendingCount).toBe(0);
    const ch = await broker.channel();
    await eventually(async () => (await ch.checkQueue(`${ns}.rpc.math`)).messageCount === 0, 3000);
    await ch.close();
  });

  it('fails fast when no service queue exists', async () => {
    const started = Date.now();
    await expect(client.call('nothing', 'here', {}, { timeoutMs: 3000 })).rejects.toBeInstanceOf(
      UnavailableError,
    );
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('shares the load between two workers on one queue', async () => {
    await startServer('w1', undefined, { prefetch: 4 });
    await startServer('w2', undefined, { prefetch: 4 });
    const math = client.bind(mathContract);
    const results = await Promise.all(Array.from({ length: 40 }, () => math.call('slow', { ms: 20 })));
    const byWorker = new Map<string, number>();
    for (const r of results) byWorker.set(r.worker, (byWorker.get(r.worker) ?? 0) + 1);
    expect(byWorker.get('w1')).toBeGreaterThan(5);
    expect(byWorker.get('w2')).toBeGreaterThan(5);
  });

  it('a worker stopping finishes what it holds once: no request runs twice', async () => {
    // The request queue is a quorum queue: what a cancelled consumer still holds must stay
    // with it until acked, never go to the other worker as well.
    const seen: number[] = [];
    const first = await startServer('w1', seen, { prefetch: 4 });
    await startServer('w2', seen, { prefetch: 4 });
    const math = client.bind(mathContract);
    const calls = Array.from({ length: 16 }, (_, i) =>
      math.call('slow', { ms: 600 + i }, { timeoutMs: 20_000 }),
    );
    await eventually(() => seen.length >= 8, 10_000, 10);
    await first.stop();
    const results = await Promise.all(calls);
    expect(results.map((r) => r.worker)).toContain('w1');
    expect([...seen].sort()).toEqual(Array.from({ length: 16 }, (_, i) => 600 + i));
  });

  it('carries the trace id and the caller to the handler', async () => {
    await startServer();
    const math = client.bind(mathContract);
    const result = await withTrace('trace-123', () =>
      math.call('whoami', {}, { caller: { userId: 'u1', username: 'ada', admin: false } }),
    );
    expect(result).toEqual({ traceId: 'trace-123', user: 'ada' });
  });

  it('rejects every pending call at once when the connection drops, then recovers', async () => {
    await startServer();
    const math = client.bind(mathContract);
    const settledAt: number[] = [];
    const settled = Promise.allSettled(
      Array.from({ length: 5 }, () =>
        // Long enough that a busy machine's rabbitmqctl (seconds) closes the connection first.
        math.call('slow', { ms: 15_000 }, { timeoutMs: 30_000 }).finally(() => settledAt.push(Date.now())),
      ),
    );
    await sleep(100);
    expect(await closeConnections(`client:${ns}`)).toBe(1);
    const closed = Date.now();
    const outcomes = await settled;
    // At once: by the time rabbitmqctl reports the connection closed (or just after), long
    // before the handler (15 s) or the timeout (30 s) could have settled them.
    expect(Math.max(...settledAt) - closed).toBeLessThan(1000);
    for (const o of outcomes) {
      expect(o.status).toBe('rejected');
      expect((o as PromiseRejectedResult).reason).toBeInstanceOf(UnavailableError);
    }
    // The connection comes back by itself and calls work again.
    await eventually(
      async () => (await math.call('add', { a: 1, b: 1 }).catch(() => null))?.sum === 2,
      10_000,
      100,
    );
  });

  it('a call made while the connection is being made again waits for it and is answered', async () => {
    await startServer();
    const patient = new RpcClient({ broker, logger: silentLogger, timeoutMs: 10_000, reconnectWaitMs: 8000 });
    await patient.start();
    try {
      const math = patient.bind(mathContract);
      expect((await math.call('add', { a: 1, b: 2 })).sum).toBe(3);
      const closing = closeConnections(`client:${ns}`);
      // The moment the client has no channel: the broker waits at least 80 ms before connecting again.
      await eventually(() => !patient.connected, 15_000, 1);
      const answer = math.call('add', { a: 2, b: 2 });
      expect(patient.connected).toBe(false);
      expect((await answer).sum).toBe(4);
      expect(await closing).toBe(1);
    } finally {
      await patient.stop();
    }
  });

  it('a call made while disconnected fails as unavailable once the wait is over', async () => {
    await startServer();
    const hasty = new RpcClient({ broker, logger: silentLogger, timeoutMs: 10_000, reconnectWaitMs: 0 });
    await hasty.start();
    try {
      const closing = closeConnections(`client:${ns}`);
      await eventually(() => !hasty.connected, 15_000, 1);
      const started = Date.now();
      await expect(hasty.bind(mathContract).call('add', { a: 1, b: 1 })).rejects.toBeInstanceOf(
        UnavailableError,
      );
      expect(Date.now() - started).toBeLessThan(1000);
      await closing;
    } finally {
      await hasty.stop();
    }
  });

  it('declares its queue again and keeps serving when the queue is deleted under it', async () => {
    const server = await startServer('w1');
    const ch = await broker.channel();
    await ch.deleteQueue(server.queue);
    await ch.close();
    const math = client.bind(mathContract);
    await eventually(
      async () => (await math.call('add', { a: 3, b: 4 }).catch(() => null))?.sum === 7,
      10_000,
      100,
    );
  });

  it('answers the requests in hand when its queue is deleted under it, and serves the next from the new one', async () => {
    const server = await startServer('w1');
    const math = client.bind(mathContract);
    const inHand = math.call('slow', { ms: 800 });
    await sleep(200);
    const ch = await broker.channel();
    await ch.deleteQueue(server.queue);
    await ch.close();
    expect(await inHand).toEqual({ worker: 'w1' });
    expect(await math.call('add', { a: 1, b: 1 })).toEqual({ sum: 2 });
  });

  it('sends a call again that found no queue, and it is answered once the queue is declared again', async () => {
    const server = await startServer('w1');
    const ch = await broker.channel();
    // As when the node holding the queue is lost: the queue goes, its consumers are cancelled.
    await ch.deleteQueue(server.queue);
    await ch.close();
    const math = client.bind(mathContract);
    // Made at once: the broker returns it until the worker has declared the queue again.
    expect(await math.call('add', { a: 5, b: 6 })).toEqual({ sum: 11 });
  });

  it('keeps serving after the server connection is force-closed', async () => {
    await startServer('w1');
    const math = client.bind(mathContract);
    expect(await closeConnections(`server-w1:${ns}`)).toBe(1);
    await eventually(
      async () => (await math.call('add', { a: 2, b: 2 }).catch(() => null))?.sum === 4,
      10_000,
      100,
    );
  });
});
