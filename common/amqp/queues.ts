import type { Channel } from 'amqplib';
import type { Logger } from 'pino';
import type { Broker } from './broker.js';

/**
 * Quorum queues are replicated (on min(3, nodes) nodes of a cluster: RabbitMQ's default
 * `quorum_cluster_size`) and survive the loss of a minority of them; classic queues live on
 * one node, for brokers without quorum queues (RabbitMQ < 3.8).
 */
export type QueueType = 'quorum' | 'classic';

export type QueueArguments = Record<string, string | number>;

/**
 * A queue the system declares: its name, the arguments it is declared with, and whether it is
 * durable (every queue that holds work is; a request queue is not, see `requestQueue`).
 */
export interface WorkQueue {
  name: string;
  arguments: QueueArguments;
  /** Default true. */
  durable?: boolean;
}

/** Arguments of a durable queue that holds work or failed messages. */
export function workQueueArguments(type: QueueType): QueueArguments {
  return type === 'quorum' ? { 'x-queue-type': 'quorum' } : {};
}

/**
 * A retry queue holds each message `delayMs`, then dead-letters it to `target` through the
 * default exchange. On quorum queues the dead-lettering is at-least-once (RabbitMQ 3.10+):
 * the broker keeps the expired message until `target` has confirmed it, where the default
 * (at-most-once) could drop it if `target` is unavailable at that moment. It requires
 * `reject-publish` overflow (no length limit is set, so nothing is ever rejected for it).
 */
export function retryQueueArguments(type: QueueType, delayMs: number, target: string): QueueArguments {
  return {
    ...workQueueArguments(type),
    'x-message-ttl': delayMs,
    'x-dead-letter-exchange': '',
    'x-dead-letter-routing-key': target,
    ...(type === 'quorum'
      ? { 'x-dead-letter-strategy': 'at-least-once', 'x-overflow': 'reject-publish' }
      : {}),
  };
}

/** The command that moves queues declared by an older version to their current arguments. */
export const MIGRATE_COMMAND = 'npm run queues:migrate';

/** Queues already reported by this process, so a reconnect does not repeat the warning. */
const reported = new Set<string>();
/** Mismatches found in the last moment, reported together as one warning. */
let pending: { log: Logger; queues: string[] } | null = null;

function report(log: Logger, queue: string): void {
  if (reported.has(queue)) return;
  reported.add(queue);
  if (!pending) {
    pending = { log, queues: [] };
    // A process declares its queues over a few hundred ms (server, consumers, publisher).
    setTimeout(() => {
      const { log: out, queues } = pending!;
      pending = null;
      out.warn(
        { queues },
        `${queues.length} queue(s) exist with other arguments than this version declares and are ` +
          `used as they are (a classic work queue is not replicated; a quorum request queue makes ` +
          `every call wait for a replicated write): ${queues.join('; ')}. ` +
          `Stop the system's workers and run \`${MIGRATE_COMMAND}\` to move them, messages included.`,
      );
    }, 1000).unref();
  }
  pending.queues.push(queue);
}

/**
 * The argument an existing queue differs in, from the broker's PRECONDITION_FAILED (406)
 * answer to a declaration ("x-queue-type: has none, declared quorum"); null for other errors.
 */
export function mismatchOf(err: unknown): string | null {
  if ((err as { code?: unknown }).code !== 406) return null;
  const text = err instanceof Error ? err.message : '';
  const m =
    /inequivalent arg '([^']+)'.*received (?:the value )?'([^']*)'.* but current is (?:(?:the value )?'([^']*)'|none)/.exec(
      text,
    );
  if (!m) return 'other arguments';
  return `${m[1]}: has ${m[3] === undefined ? 'none' : m[3]}, declared ${m[2]}`;
}

/**
 * Declares queues, each with its arguments and durability, on a channel of its own (the
 * caller's channels stay open whatever happens). A queue that already exists with other
 * arguments, such as a classic queue made by an earlier version or a
 * durable quorum request queue, makes the broker refuse the
 * declaration with PRECONDITION_FAILED and close the channel: such a queue is used as it is
 * (after a passive check that it exists), and the process logs one warning naming such
 * queues and the command that migrates them. Anything else fails as usual.
 */
export async function declareWorkQueues(broker: Broker, queues: readonly WorkQueue[]): Promise<void> {
  let ch: Channel | null = null;
  try {
    for (const q of queues) {
      ch ??= await broker.channel();
      try {
        await ch.assertQueue(q.name, { durable: q.durable ?? true, arguments: q.arguments });
      } catch (err) {
        const mismatch = mismatchOf(err);
        if (!mismatch) throw err;
        // The broker closed the channel: check on a new one that the queue is there.
        ch = await broker.channel();
        await ch.checkQueue(q.name);
        report(broker.log, `${q.name} (${mismatch})`);
      }
    }
  } finally {
    await ch?.close().catch(() => {});
  }
}
