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
  if (error) return <FormError message={error.message} />;
  return <p class="loading">Loading…</p>;
}

/** An error said where it happened (a form's, a dialog's), announced at once; nothing when there is none. */
export function FormError({ message }: { message: string | null | undefined }): JSX.Element | null {
  return message ? (
    <p class="error" role="alert">
      {message}
    </p>
  ) : null;
}
