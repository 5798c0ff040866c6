/** Your share links: what each opens, its link, visits and expiry; copy or delete. */
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import type { Share } from '../../../common/contracts/index.js';
import { ApiError, change, enc } from '../api.js';
import { plural } from '../format.js';
import { announce } from '../ui/announce.js';
import { Link } from '../ui/link.js';
import { copyLink, shareUrl } from '../ui/share-form.js';
import { FormError, Status, Title } from '../ui/title.js';
import { useApi } from '../use-api.js';

const KIND = { track: 'Track', album: 'Album', playlist: 'Playlist' } as const;

/** Where the shared thing is in the player (a track has no page of its own: its album). */
function itemHref(s: Share): string | null {
  if (s.kind === 'album') return `/albums/${enc(s.itemId)}`;
  if (s.kind === 'playlist') return `/playlists/${enc(s.itemId)}`;
  const albumId = s.entries[0]?.albumId;
  return albumId ? `/albums/${enc(albumId)}` : null;
}

function expiry(s: Share): string {
  if (s.expired) return 'Expired';
  return s.expiresAt ? `Expires ${new Date(s.expiresAt).toLocaleString()}` : 'Never expires';
}

export function SharesPage(): JSX.Element {
  const list = useApi<Share[]>('/api/me/shares');
  const [error, setError] = useState('');
  const remove = async (s: Share) => {
    setError('');
    try {
      await change('DELETE', `/api/me/shares/${enc(s.id)}`);
      announce(`Deleted the link to ${s.name || KIND[s.kind]}`);
      list.reload();
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    }
  };
  if (!list.data)
    return (
      <>
        <Title text="My shares" />
        <Status error={list.error} />
      </>
    );
  return (
    <>
      <Title text="My shares" />
      <FormError message={error} />
      {list.data.length === 0 ? (
        <p class="empty">
          No share links yet: “Share” on an album, one of your playlists or a track’s “More actions” makes
          one.
        </p>
      ) : (
        <ul class="shares plain" aria-label="Your share links">
          {list.data.map((s) => {
            const href = itemHref(s);
            const url = shareUrl(s);
            return (
              <li key={s.id} class="panel share-row">
                <p class="kind">{KIND[s.kind]}</p>
                <h2>{href ? <Link href={href}>{s.name || '(removed)'}</Link> : s.name || '(removed)'}</h2>
                {s.description ? <p>{s.description}</p> : null}
                <p class="sub">
                  {plural(s.trackCount, 'track')} · {plural(s.visitCount, 'visit')} · {expiry(s)}
                  {s.downloadable ? ' · downloads allowed' : ''}
                </p>
                <div class="actions">
                  <input class="share-link" readOnly value={url} aria-label={`Link to ${s.name}`} />
                  <button
                    type="button"
                    onClick={(e) =>
                      void copyLink(url, e.currentTarget.previousElementSibling as HTMLInputElement)
                    }
                  >
                    Copy link
                  </button>
                  <button type="button" class="danger" onClick={() => void remove(s)}>
                    Delete link
                  </button>
                </div>
              </li>
            );
          })}
        </ul>
      )}
    </>
  );
}
