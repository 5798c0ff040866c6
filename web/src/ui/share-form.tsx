/**
 * Sharing a track, an album or one of your playlists: an optional description, an expiry and
 * whether the link allows downloads, then the link itself to copy. Your links are listed on
 * the Shares page.
 */
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import type { Share, ShareKind } from '../../../common/contracts/index.js';
import { ApiError, change } from '../api.js';
import { announce } from './announce.js';
import { Icon } from './icons.js';
import { FormError } from './title.js';

/** How long a new link lives, in days (0: until deleted). */
const EXPIRIES: Array<[number, string]> = [
  [0, 'Never'],
  [1, 'In a day'],
  [7, 'In a week'],
  [30, 'In a month'],
];

/** The link's address as anyone opens it. */
export const shareUrl = (s: Share) => `${window.location.origin}${s.path}`;

/** Copies `url`, saying so (or selecting it where the clipboard is not allowed). */
export async function copyLink(url: string, input?: HTMLInputElement | null): Promise<void> {
  try {
    await navigator.clipboard.writeText(url);
    announce('Link copied');
  } catch {
    input?.select();
    announce('Select the link and copy it');
  }
}

export function ShareForm({ kind, id, name }: { kind: ShareKind; id: string; name: string }): JSX.Element {
  const [description, setDescription] = useState('');
  const [days, setDays] = useState(0);
  const [downloadable, setDownloadable] = useState(false);
  const [made, setMade] = useState<Share | null>(null);
  const [error, setError] = useState('');
  const base = `share-${kind}-${id}`;
  const create = async (e: Event) => {
    e.preventDefault();
    setError('');
    try {
      const expiresAt = days > 0 ? new Date(Date.now() + days * 86_400_000).toISOString() : null;
      const s = await change<Share>('POST', '/api/me/shares', {
        kind,
        id,
        description,
        expiresAt,
        downloadable,
      });
      setMade(s);
      announce(`Link to ${name} made`);
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    }
  };
  if (made) {
    const url = shareUrl(made);
    return (
      <div class="inline-form share-made">
        <label for={`${base}-link`}>Link to {name}</label>
        <input
          id={`${base}-link`}
          class="share-link"
          readOnly
          value={url}
          onFocus={(e) => e.currentTarget.select()}
        />
        <button
          type="button"
          onClick={(e) => void copyLink(url, e.currentTarget.previousElementSibling as HTMLInputElement)}
        >
          Copy link
        </button>
      </div>
    );
  }
  return (
    <form class="inline-form share-form" onSubmit={(e) => void create(e)} aria-label={`Share ${name}`}>
      <label for={`${base}-description`}>Description</label>
      <input
        id={`${base}-description`}
        maxLength={500}
        value={description}
        onInput={(e) => setDescription(e.currentTarget.value)}
      />
      <label for={`${base}-expiry`}>Expires</label>
      <select id={`${base}-expiry`} value={days} onChange={(e) => setDays(Number(e.currentTarget.value))}>
        {EXPIRIES.map(([d, label]) => (
          <option key={d} value={d}>
            {label}
          </option>
        ))}
      </select>
      <label class="check">
        <input
          type="checkbox"
          checked={downloadable}
          onChange={(e) => setDownloadable(e.currentTarget.checked)}
        />
        Allow downloads
      </label>
      <button type="submit" class="primary">
        Create link
      </button>
      <FormError message={error} />
    </form>
  );
}

/** A "Share" button that shows the form below the actions it sits in. */
export function ShareButton(props: { kind: ShareKind; id: string; name: string }): JSX.Element {
  const [open, setOpen] = useState(false);
  return (
    <>
      <button type="button" aria-expanded={open} onClick={() => setOpen(!open)}>
        <Icon name="share" /> Share
      </button>
      {open ? (
        <div class="share-panel">
          <ShareForm {...props} />
        </div>
      ) : null}
    </>
  );
}
