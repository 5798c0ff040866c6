import type { ComponentChildren, JSX } from 'preact';
import { useEffect } from 'preact/hooks';

/** A page's heading (focused after navigation) and the document title. */
export function Title({ text, children }: { text: string; children?: ComponentChildren }): JSX.Element {
  useEffect(() => {
    document.title = `${text} · Music`;
  }, [text]);
  return <h1 tabIndex={-1}>{children ?? text}</h1>;
}

/** What a page shows while its data loads, or when it could not load. */
export function Status({ error }: { error?: Error | undefined }): JSX.Element {
  if (error)
    return (
      <p class="error" role="alert">
        {error.message}
      </p>
    );
  return <p class="loading">Loading…</p>;
}
