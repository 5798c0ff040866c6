import type { Channel, ConsumeMessage } from 'amqplib';
import jayson from 'jayson/promise/index.js';
import type { Logger } from 'pino';
import { AttachedChannel } from '../amqp/attached-channel.js';
import type { Broker } from '../amqp/broker.js';
import { declareWorkQueues, type WorkQueue } from '../amqp/queues.js';
import { configSpec } from '../config.js';
import {
  AppError,
  describeIssues,
  ErrorCodes,
  type ErrorTranslator,
  ForbiddenError,
  InvalidParamsError,
  toWireError,
  UnauthorizedError,
} from '../errors.js';
import { newTraceId, TRACE_HEADER, withTrace } from '../trace.js';
import type { CallContext, Contract, Handlers, MethodSpec } from './contract.js';
import { nulPath } from './text.js';
import { HEADER_DEADLINE, readCallerHeaders, rpcQueue } from './wire.js';

export interface RpcServerOptions<C extends Contract> {
  broker: Broker;
  contract: C;
  handlers: Handlers<C>;
  logger: Logger;
  /** Requests held unacknowledged on this server's channel (default PREFETCH's). */
  prefetch?: number;
  /** Largest batch accepted in one message (default RPC_MAX_BATCH's). */
  maxBatchLength?: number;
  translateError?: ErrorTranslator;
  /**
   * The broker users whose requests may say on whose behalf they are made (the gateway's and
   * the services', set as the messages' broker-checked `user-id`); others' are served as
   * anonymous. Default: this connection's own user (one broker user for every process, as
   * tests run).
   */
  trustedCaller?: string | ReadonlySet<string>;
}

interface JaysonContext {
  call: CallContext;
  /** The broker user of a request whose caller headers were ignored. */
  ignoredFrom: string | undefined;
}

/**
 * A service's request queue: a transient (non-durable) classic queue, whatever the type of the
 * work queues. A request lives at most its caller's timeout, so it needs a queue on a live
 * node, not a replicated log on disk. On a cluster the queue lives on the node of the worker
 * that declared it first; when that node is lost (killed, stopped, or cut off and paused as the
 * minority) the other nodes delete the queue, which cancels every consumer of it, and each
 * worker declares it again on the node it is (re)connected to. The requests that were on the
 * lost node are lost with it: their callers get a TimeoutError; a call made while no node holds
 * the queue comes back at once (mandatory) as an UnavailableError.
 */
export function requestQueue(broker: Pick<Broker, 'name'>, service: string): WorkQueue {
  return { name: broker.name(rpcQueue(service)), arguments: {}, durable: false };
}

/**
 * Serves one service's contract on its request queue `rpc.<service>` (see `requestQueue`). Every worker of
 * the service consumes the same queue, so starting another worker is all scaling takes.
 * Bodies are dispatched by jayson (requests, batches, notifications, spec error codes); the
 * reply goes to `replyTo` with the request's correlation id, and the request is acked after.
 */
export class RpcServer<C extends Contract> {
  private readonly log: Logger;
  private readonly jayson: jayson.Server;
  private readonly channel = new AttachedChannel<Channel>();
  private consumerTag: string | null = null;
  private inFlight = 0;
  private idle: (() => void) | null = null;
  private stopping = false;
  private readonly trustedCaller: string | ReadonlySet<string>;

  constructor(private readonly opts: RpcServerOptions<C>) {
    this.trustedCaller = opts.trustedCaller ?? opts.broker.user;
    this.log = opts.logger.child({ module: 'rpc-server', service: opts.contract.service });
    const methods: Record<string, jayson.MethodLike> = {};
    for (const [name, spec] of Object.entries(opts.contract.methods)) {
      const handler = (opts.handlers as Record<string, (p: unknown, ctx: CallContext) => Promise<unknown>>)[
        name
      ];
      if (!handler) throw new Error(`handler missing for ${opts.contract.service}.${name}`);
      methods[`${opts.contract.service}.${name}`] = this.wrap(
        `${opts.contract.service}.${name}`,
        spec,
        handler,
      );
    }
    this.jayson = new jayson.Server(methods, {
      useContext: true,
      maxBatchLength: opts.maxBatchLength ?? configSpec.rpcMaxBatch.default,
    });
  }

  get queue(): string {
    return this.opts.broker.name(rpcQueue(this.opts.contract.service));
  }

  async start(): Promise<void> {
    await this.channel.open(this.opts.broker, async (model) => {
      const ch = await model.createChannel();
      await ch.prefetch(this.opts.prefetch ?? configSpec.prefetch.default);
      const serve = async (): Promise<void> => {
        await declareWorkQueues(this.opts.broker, [
          requestQueue(this.opts.broker, this.opts.contract.service),
        ]);
        const { consumerTag } = await ch.consume(this.queue, (msg) => {
          if (msg) {
            this.onMessage(ch, msg);
            return;
          }
          // The broker cancelled us: the queue was deleted (its node was lost, or by hand).
          // Declare it again, on the node this connection is on, and consume on the same
          // channel, so the requests in hand still reply. If that fails, closing the channel
          // makes the broker run this attachment again.
          if (this.stopping) return;
          this.log.warn('request queue was deleted; re-declaring');
          serve().catch((err: Error) => {
            this.log.warn({ err: err.message }, 'could not declare the request queue again; reopening');
            ch.close().catch(() => {});
          });
        });
        this.consumerTag = consumerTag;
      };
      await serve();
      return ch;
    });
    this.log.info({ queue: this.queue }, 'serving');
  }

  /** Stops taking requests, finishes and acks the ones in flight, then closes the channel. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    await this.channel.close(async (ch) => {
      if (ch && this.consumerTag) await ch.cancel(this.consumerTag).catch(() => {});
      if (this.inFlight > 0) await new Promise<void>((resolve) => (this.idle = resolve));
    });
  }

  private onMessage(ch: Channel, msg: ConsumeMessage): void {
    const headers = msg.properties.headers ?? {};
    const deadline = Number(headers[HEADER_DEADLINE]);
    if (Number.isFinite(deadline) && deadline > 0 && Date.now() > deadline) {
      // The caller has already given up; answering would only waste work.
      ch.ack(msg);
      return;
    }
    const traceId = typeof headers[TRACE_HEADER] === 'string' ? headers[TRACE_HEADER] : newTraceId();
    const { caller, clientAddress, ignoredFrom } = readCallerHeaders(
      msg.properties.headers,
      msg.properties.userId as string | undefined,
      this.trustedCaller,
    );
    this.inFlight++;
    withTrace(traceId, () => {
      const context: JaysonContext = { call: { traceId, caller, clientAddress, log: this.log }, ignoredFrom };
      this.jayson
        .callp(msg.content.toString('utf8') as unknown as jayson.JSONRPCRequestLike, context)
        .then(
          (response) => this.reply(ch, msg, response),
          (errorResponse: unknown) => this.reply(ch, msg, errorResponse),
        )
        .catch((err: unknown) => this.log.error({ err }, 'failed to reply'))
        .finally(() => {
          try {
            ch.ack(msg);
          } catch {
            // The channel closed under us; the broker requeues the request for another worker.
          }
          if (--this.inFlight === 0 && this.idle) this.idle();
        });
    });
  }

  private reply(ch: Channel, msg: ConsumeMessage, response: unknown): void {
    const { replyTo, correlationId } = msg.properties;
    if (!replyTo || response === undefined || response === null) return;
    ch.publish('', replyTo, Buffer.from(JSON.stringify(response)), {
      correlationId,
      contentType: 'application/json',
    });
  }

  private wrap(
    fullName: string,
    spec: MethodSpec,
    handler: (p: unknown, ctx: CallContext) => Promise<unknown>,
  ): jayson.MethodLike {
    const log = this.log.child({ method: fullName });
    return async (params: unknown, context: JaysonContext) => {
      const needsCaller = spec.visibility === 'user' || spec.visibility === 'admin';
      if (needsCaller && !context.call.caller) {
        if (context.ignoredFrom !== undefined) {
          log.warn(
            { brokerUser: context.ignoredFrom },
            'caller headers from another broker user than the gateway',
          );
          throw wire(
            new UnauthorizedError(
              `${fullName} needs a logged-in user, and a caller is taken only from the gateway's and the services' requests, not ${context.ignoredFrom}'s`,
            ),
          );
        }
        throw wire(new UnauthorizedError(`${fullName} needs a logged-in user`));
      }
      if (spec.visibility === 'admin' && !context.call.caller?.admin) {
        log.info(
          { userId: context.call.caller?.userId },
          'admin method refused to a caller who is not an admin',
        );
        throw wire(new ForbiddenError(`${fullName} is for administrators only`));
      }
      // No text in this system holds NUL characters, and the database refuses them: say so in our words.
      const nul = nulPath(params);
      if (nul !== undefined) {
        throw wire(
          new InvalidParamsError(`invalid params: ${nul || 'params'}: text must not contain NUL characters`),
        );
      }
      const parsed = spec.params.safeParse(params ?? {});
      if (!parsed.success) {
        // Positional params are taken only by a method whose schema is a list.
        if (Array.isArray(params))
          throw wire(new InvalidParamsError('params must be an object of named parameters'));
        throw wire(new InvalidParamsError(`invalid params: ${describeIssues(parsed.error, 'params')}`));
      }
      const ctx: CallContext = { ...context.call, log };
      try {
        return await handler(parsed.data, ctx);
      } catch (thrown) {
        const translated = this.opts.translateError?.(thrown);
        if (translated) ctx.log.warn({ err: (thrown as Error).message }, translated.message);
        else if (!(thrown instanceof AppError) || thrown.code === ErrorCodes.INTERNAL) {
          ctx.log.error({ err: thrown }, 'handler failed');
        }
        throw wire(translated ?? thrown);
      }
    };
  }
}

/** jayson passes through errors shaped `{code, message, data}`; anything else becomes -32603. */
function wire(err: unknown): Record<string, unknown> {
  return { ...toWireError(err) };
}
