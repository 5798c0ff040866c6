import type { ConfirmChannel } from 'amqplib';
import { Events, type TrackPlayed } from '../common/contracts/index.js';
import { makeEnvelope } from '../common/index.js';

/**
 * Publishes one play the way the gateway does, with raw amqplib (the `plays` benchmark's
 * baselines): the same envelope, persistent, to a topic exchange under `track.played`;
 * `confirmed` is called with the broker's answer. Returns the event id.
 */
export function publishPlay(
  ch: ConfirmChannel,
  exchange: string,
  play: TrackPlayed,
  confirmed: (err: unknown) => void,
): string {
  const envelope = makeEnvelope(Events.trackPlayed.type, play);
  ch.publish(
    exchange,
    Events.trackPlayed.type,
    Buffer.from(JSON.stringify(envelope)),
    { persistent: true, messageId: envelope.id, contentType: 'application/json' },
    confirmed,
  );
  return envelope.id;
}
