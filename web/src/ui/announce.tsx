/**
 * Short messages ("Added to queue"): shown for a few seconds and read out by screen readers
 * through one polite live region.
 */
import type { JSX } from 'preact';
import { useEffect } from 'preact/hooks';
import { createStore, useStore } from '../store.js';

const message = createStore<{ text: string; id: number } | null>(null);
let nextId = 1;

export function announce(text: string): void {
  message.set({ text, id: nextId++ });
}

export function Announcer(): JSX.Element {
  const current = useStore(message);
  useEffect(() => {
    if (!current) return;
    const timer = setTimeout(() => message.set(null), 4000);
    return () => clearTimeout(timer);
  }, [current]);
  return (
    <div class={current ? 'toast visible' : 'toast'} role="status" aria-live="polite">
      {current?.text ?? ''}
    </div>
  );
}
