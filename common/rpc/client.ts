import type { Channel, ConsumeMessage, Message } from 'amqplib';
import type { Logger } from 'pino';
import { AttachedChannel } from '../amqp/attached-channel.js';
import type { Broker } from '../amqp/broker.js';
import { configSpec } from '../config.js';
import { fromWireError, InternalError, TimeoutError, UnavailableError, type WireError } from '../errors.js';
import { currentTraceId, TRACE_HEADER } from '../trace.js';
import type { Caller, Contract, MethodName, ParamsOf, ResultOf } from './contract.js';
import { callerHeaders, DIRECT_REPLY_TO, HEADER_DEADLINE, rpcQueue } from './wire.js';

export interface RpcClientOptions {
  broker: Broker;
  logger: Logger;
  /** Default per-call timeout in milliseconds, also sent as the message expiration (default RPC_TIMEOUT_MS's). */
  timeoutMs?: number;
  /**
   * How long a call made while there is no connection (it is being made again) waits for one,
   * within its timeout, before failing as unavailable (default RPC_RECONNECT_WAIT_MS's).
   */
  reconnectWaitMs?: number;
}

export interface CallOptions {
  timeoutMs?: number;
  /** The authenticated user on whose behalf the call is made (set by the gateway). */
  caller?: Caller | undefined;
  /** The address of the client the gateway is serving (login throttling counts by it). */
  clientAddress?: string | undefined;
}

interface Pending {
  resolve: (body: unknown) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
  /** Publishes the request (again). */
  publish: () => void;
  /** Times the broker returned it: no queue took it. */
  returns: number;
  /** A resend waiting (see RESEND_DELAYS_MS). */
  resend?: NodeJS.Timeout;
  /** When it was sent (performance.now()). */
  sentAt: number;
}

/**
 * A request the broker returns (mandatory, no queue took it) was delivered to no one, so it is
 * safe to send again: after these delays, while the call's timeout allows. It covers the moment
 * a request queue is declared again after the node holding it was lost (docs/ARCHITECTURE.md,
 * "Request queues"); a service that is not running still fails within their sum.
 */
const RESEND_DELAYS_MS = [50, 100, 200] as const;

/** Observes every call, e.g. for metrics. */
export type CallObserver = (
  service: string,
  method: string,
  ms: number,
  outcome: 'ok' | 'error' | 'timeout',
) => void;

/**
 * Calls services over their request queues and reads replies on direct reply-to.
 * Every call has a timeout (sent as the message's expiration, so a request nobody took in
 * time is dropped by the broker). All pending calls fail at once when the channel closes (a
 * request in hand may have run: it is not sent again). A call made while disconnected was sent
 * nowhere, so it waits a moment (`reconnectWaitMs`) for the connection to be made again (a node
 * drained or lost: the broker moves to another within a few hundred ms), then fails fast as
 * unavailable.
 */
export class RpcClient {
  private readonly log: Logger;
  private readonly timeoutMs: number;
  private readonly reconnectWaitMs: number;
  private readonly channel = new AttachedChannel<Channel>();
  private readonly pending = new Map<string, Pending>();
  private nextId = 1;
  private observer: CallObserver | null = null;
  private unwatch: (() => void) | null = null;

  constructor(private readonly opts: RpcClientOptions) {
    this.log = opts.logger.child({ module: 'rpc-client' });
    this.timeoutMs = opts.timeoutMs ?? configSpec.rpcTimeoutMs.default;
    this.reconnectWaitMs = opts.reconnectWaitMs ?? configSpec.rpcReconnectWaitMs.default;
  }

  async start(): Promise<void> {
    await this.channel.open(
      this.opts.broker,
      async (model) => {
        const ch = await model.createChannel();
        await ch.consume(DIRECT_REPLY_TO, (msg) => msg && this.onReply(msg), { noAck: true });
        ch.on('return', (msg: Message) => this.onReturn(msg));
        return ch;
      },
      () => this.failAll(new UnavailableError('connection to the message broker was lost')),
    );
    // A late reply: is the broker still there? (a node cut off by the network says nothing)
    // The oldest call in flight comes first: a Map keeps the order calls were sent in.
    this.unwatch ??= this.opts.broker.watchAnswers(() => this.pending.values().next().value?.sentAt);
  }

  async stop(): Promise<void> {
    this.unwatch?.();
    this.unwatch = null;
    await this.channel.close(async () => this.failAll(new UnavailableError('RPC client stopped')));
  }

  observe(observer: CallObserver): void {
    this.observer = observer;
  }

  /** A typed view of one service. */
  bind<C extends Contract>(contract: C): ServiceClient<C> {
    return new ServiceClient(this, contract);
  }

  /** Calls `service.method` and resolves with its result or rejects with the typed error. */
  async call(service: string, method: string, params: unknown, options: CallOptions = {}): Promise<unknown> {
    const started = performance.now();
    const full = `${service}.${method}`;
    const id = String(this.nextId++);
    const body = JSON.stringify({ jsonrpc: '2.0', id, method: full, params: params ?? {} });
    try {
      const reply = (await this.publish(service, body, options, id)) as {
        result?: unknown;
        error?: WireError;
      };
      if (reply.error) throw fromWireError(reply.error);
      this.observer?.(service, method, performance.now() - started, 'ok');
      return reply.result;
    } catch (err) {
      const outcome = err instanceof TimeoutError ? 'timeout' : 'error';
      this.observer?.(service, method, performance.now() - started, outcome);
      throw err;
    }
  }

  /** Sends a notification (no reply, no delivery guarantee beyond the broker's). */
  async notify(service: string, method: string, params: unknown, options: CallOptions = {}): Promise<void> {
    const body = JSON.stringify({ jsonrpc: '2.0', method: `${service}.${method}`, params: params ?? {} });
    await this.publish(service, body, options);
  }

  /**
   * Sends one JSON-RPC body to a service. With a `correlationId` it resolves with the parsed
   * reply; without (a notification), once the request is handed to the broker.
   */
  private async publish(
    service: string,
    body: string,
    options: CallOptions,
    correlationId?: string,
  ): Promise<unknown> {
    let timeoutMs = options.timeoutMs ?? this.timeoutMs;
    let ch = this.channel.current;
    if (!ch) {
      const waitFrom = performance.now();
      ch = await this.channel.whenOpen(Math.min(this.reconnectWaitMs, timeoutMs - 1));
      if (!ch) throw new UnavailableError('not connected to the message broker');
      // The wait came out of the call's time.
      timeoutMs = Math.max(1, Math.round(timeoutMs - (performance.now() - waitFrom)));
    }
    const headers: Record<string, string | number> = {
      [HEADER_DEADLINE]: Date.now() + timeoutMs,
      ...callerHeaders(options),
    };
    const traceId = currentTraceId();
    if (traceId) headers[TRACE_HEADER] = traceId;
    const queue = this.opts.broker.name(rpcQueue(service));
    if (correlationId === undefined) {
      ch.publish('', queue, Buffer.from(body), {
        headers,
        expiration: String(timeoutMs),
        mandatory: true,
        userId: this.opts.broker.user,
      });
      return undefined;
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const entry = this.pending.get(correlationId);
        if (entry?.resend) clearTimeout(entry.resend);
        this.pending.delete(correlationId);
        reject(new TimeoutError(`${service} did not answer within ${timeoutMs} ms`, { service, timeoutMs }));
      }, timeoutMs);
      const publish = () =>
        ch.publish('', queue, Buffer.from(body), {
          correlationId,
          replyTo: DIRECT_REPLY_TO,
          expiration: String(timeoutMs),
          headers,
          mandatory: true,
          contentType: 'application/json',
          // Checked by the broker against this connection's user: what the callee trusts a caller by.
          userId: this.opts.broker.user,
        });
      this.pending.set(correlationId, {
        resolve,
        reject,
        timer,
        publish,
        returns: 0,
        sentAt: performance.now(),
      });
      try {
        publish();
      } catch (err) {
        clearTimeout(timer);
        this.pending.delete(correlationId);
        reject(new UnavailableError(`could not send to ${service}: ${(err as Error).message}`));
      }
    });
  }

  /** Whether a channel is open now (false while the connection is being made again). */
  get connected(): boolean {
    return this.channel.current !== null;
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  private onReply(msg: ConsumeMessage): void {
    const id = msg.properties.correlationId as string | undefined;
    const entry = id ? this.pending.get(id) : undefined;
    if (!entry || !id) return; // a late reply to a call that already timed out
    this.pending.delete(id);
    clearTimeout(entry.timer);
    try {
      entry.resolve(JSON.parse(msg.content.toString('utf8')));
    } catch {
      // The service broke the protocol, not the caller: a server fault (-32603), never -32700.
      this.log.error({ correlationId: id, bytes: msg.content.length }, 'unreadable reply');
      entry.reject(new InternalError('unreadable reply from service'));
    }
  }

  /**
   * A mandatory request no queue took: sent again a few times (RESEND_DELAYS_MS), then failed
   * as unavailable (the service is not running, or its queue is not there again yet).
   */
  private onReturn(msg: Message): void {
    const id = msg.properties.correlationId as string | undefined;
    const entry = id ? this.pending.get(id) : undefined;
    if (!entry || !id) return;
    const delay = RESEND_DELAYS_MS[entry.returns++];
    if (delay !== undefined) {
      entry.resend = setTimeout(() => {
        entry.resend = undefined;
        if (this.pending.get(id) !== entry) return;
        try {
          entry.publish();
        } catch {
          // The channel is closing: failAll rejects the call.
        }
      }, delay);
      return;
    }
    this.pending.delete(id);
    clearTimeout(entry.timer);
    entry.reject(new UnavailableError(`no service is listening on ${msg.fields.routingKey}`));
  }

  private failAll(err: Error): void {
    if (this.pending.size === 0) return;
    this.log.warn({ pending: this.pending.size }, 'failing pending calls');
    for (const [id, entry] of this.pending) {
      clearTimeout(entry.timer);
      if (entry.resend) clearTimeout(entry.resend);
      this.pending.delete(id);
      entry.reject(err);
    }
  }
}

/** Typed calls to one service, checked against its contract at compile time. */
export class ServiceClient<C extends Contract> {
  constructor(
    private readonly client: RpcClient,
    readonly contract: C,
    /** Options every call takes unless it names its own. */
    private readonly defaults: CallOptions = {},
  ) {}

  call<K extends MethodName<C>>(
    method: K,
    params: ParamsOf<C, K>,
    options?: CallOptions,
  ): Promise<ResultOf<C, K>> {
    return this.client.call(this.contract.service, method, params, {
      ...this.defaults,
      ...options,
    }) as Promise<ResultOf<C, K>>;
  }

  /** The same client, its calls made on behalf of `caller` and its client (the gateway serving one request). */
  actingFor(caller: Caller | undefined, clientAddress: string): ServiceClient<C> {
    return new ServiceClient(this.client, this.contract, { ...this.defaults, caller, clientAddress });
  }
}
