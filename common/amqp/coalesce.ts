import type { ChannelModel } from 'amqplib';

interface MuxInternals {
  connection?: {
    stream?: { cork?: () => void; uncork?: () => void };
    muxer?: { _readIncoming?: () => void };
  };
}

/**
 * amqplib's muxer hands every frame it has ready to the socket in its own write(): with
 * noDelay, a syscall and a TCP segment each (a reply and its ack, every request of a busy
 * tick). Corking the socket while the muxer drains sends them in one writev. Measured with
 * 64 RPCs in flight: ~20-40% less broker CPU and ~20% less worker CPU per call, 1.3-1.9x the
 * calls per second. Backpressure is unchanged (write() still reports a full buffer and the
 * muxer waits for 'drain'). These are amqplib 2.x internals, so they are feature-detected:
 * without them nothing changes.
 */
export function coalesceWrites(model: ChannelModel): void {
  const { stream, muxer } = (model as unknown as MuxInternals).connection ?? {};
  const cork = stream?.cork;
  const uncork = stream?.uncork;
  const drain = muxer?._readIncoming;
  if (!muxer || typeof cork !== 'function' || typeof uncork !== 'function' || typeof drain !== 'function')
    return;
  muxer._readIncoming = () => {
    cork.call(stream);
    try {
      drain.call(muxer);
    } finally {
      uncork.call(stream);
    }
  };
}
