/**
 * Settings: the links that send your plays to ListenBrainz and Last.fm (services/scrobbler).
 * The token field is a password field; no answer ever carries a token back.
 */
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import type { ScrobbleLink, ScrobbleService, ScrobbleStatus } from '../../../common/contracts/index.js';
import { ApiError, change } from '../api.js';
import { plural } from '../format.js';
import { FormError, Status, Title } from '../ui/title.js';
import { useApi } from '../use-api.js';

const NAMES: Record<ScrobbleService, string> = { listenbrainz: 'ListenBrainz', lastfm: 'Last.fm' };
const BASE = '/api/me/scrobbling';

function messageOf(err: unknown): string {
  return err instanceof ApiError ? err.message : 'Something went wrong.';
}

/** One link: its state in words (a broken one says why), what went, earlier plays, unlink. */
function LinkState({ link, onChange }: { link: ScrobbleLink; onChange: () => void }): JSX.Element {
  const [error, setError] = useState<string | null>(null);
  const name = NAMES[link.service];
  const act = async (method: 'POST' | 'DELETE', path: string) => {
    setError(null);
    try {
      await change(method, path);
      onChange();
    } catch (err) {
      setError(messageOf(err));
    }
  };
  const { counts, earlier } = link;
  return (
    <div class="scrobble-link" data-service={link.service}>
      {link.state === 'broken' ? (
        <p class="error" role="alert">
          {link.problem ?? `${name} refused the link`}. Link again to send{' '}
          {plural(counts.queued, 'waiting play')}.
        </p>
      ) : (
        <p class="ok">Linked{link.account ? ` as ${link.account}` : ''}.</p>
      )}
      <p class="sub">
        {counts.sent} sent · {counts.queued} waiting · {counts.skipped} not sent by the rules ·{' '}
        {counts.refused} refused
        {link.retryAt ? ` · trying again at ${new Date(link.retryAt).toLocaleTimeString()}` : ''}
      </p>
      {earlier ? (
        <p class="sub" aria-live="polite">
          Earlier plays:{' '}
          {earlier.state === 'done'
            ? `read, ${earlier.queued} found`
            : `reading ${earlier.total > 0 ? Math.floor((100 * earlier.read) / earlier.total) : 0}%, ${earlier.queued} found`}
        </p>
      ) : null}
      <div class="actions">
        <button type="button" onClick={() => void act('POST', `${BASE}/${link.service}/earlier`)}>
          Send my earlier plays
        </button>
        <button type="button" onClick={() => void act('DELETE', `${BASE}/${link.service}`)}>
          Unlink {name}
        </button>
      </div>
      {link.service === 'lastfm' ? (
        <p class="sub">Last.fm takes plays up to 14 days old; older ones are not sent there.</p>
      ) : null}
      <FormError message={error} />
    </div>
  );
}

function LinkListenBrainz({ onChange }: { onChange: () => void }): JSX.Element {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    try {
      await change('PUT', `${BASE}/listenbrainz`, { token: token.trim() });
      setToken('');
      onChange();
    } catch (err) {
      setError(messageOf(err));
    }
  };
  return (
    <form class="inline-form" onSubmit={(e) => void submit(e)}>
      <label for="lb-token">
        User token (from <a href="https://listenbrainz.org/settings/">listenbrainz.org/settings</a>)
      </label>
      <input
        id="lb-token"
        type="password"
        autoComplete="off"
        required
        maxLength={200}
        value={token}
        onInput={(e) => setToken(e.currentTarget.value)}
      />
      <button type="submit" class="primary">
        Link ListenBrainz
      </button>
      <FormError message={error} />
    </form>
  );
}

/** Last.fm's web flow: a page of theirs to allow this server, then back here to finish. */
function LinkLastfm({ onChange }: { onChange: () => void }): JSX.Element {
  const [pending, setPending] = useState<{ url: string; authToken: string } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const begin = async () => {
    setError(null);
    try {
      const started = await change<{ url: string; authToken: string }>('POST', `${BASE}/lastfm/authorize`);
      setPending(started);
      window.open(started.url, '_blank', 'noopener');
    } catch (err) {
      setError(messageOf(err));
    }
  };
  const finish = async () => {
    if (!pending) return;
    setError(null);
    try {
      await change('PUT', `${BASE}/lastfm`, { authToken: pending.authToken });
      setPending(null);
      onChange();
    } catch (err) {
      setError(messageOf(err));
    }
  };
  return (
    <div class="actions">
      {pending ? (
        <>
          <a href={pending.url} target="_blank" rel="noopener noreferrer">
            Allow this server on Last.fm
          </a>
          <button type="button" class="primary" onClick={() => void finish()}>
            I have allowed it
          </button>
        </>
      ) : (
        <button type="button" class="primary" onClick={() => void begin()}>
          Link Last.fm
        </button>
      )}
      <FormError message={error} />
    </div>
  );
}

export function SettingsPage(): JSX.Element {
  // Live: progress of earlier plays and a link that breaks show without a reload.
  const status = useApi<ScrobbleStatus>(BASE, { live: true });
  const s = status.data;
  const linkOf = (service: ScrobbleService) => s?.links.find((l) => l.service === service);
  const lb = linkOf('listenbrainz');
  const lastfm = linkOf('lastfm');
  return (
    <>
      <Title text="Settings" />
      {!s ? (
        <Status error={status.error} />
      ) : (
        <>
          <section class="panel" aria-labelledby="lb-title">
            <h2 id="lb-title">ListenBrainz</h2>
            <p class="sub">
              Plays count once you heard half the track or 4 minutes; they are sent as they come.
            </p>
            {lb ? <LinkState link={lb} onChange={status.reload} /> : null}
            {!lb || lb.state === 'broken' ? <LinkListenBrainz onChange={status.reload} /> : null}
          </section>
          <section class="panel" aria-labelledby="lastfm-title">
            <h2 id="lastfm-title">Last.fm</h2>
            {lastfm ? <LinkState link={lastfm} onChange={status.reload} /> : null}
            {s.lastfmAvailable ? (
              !lastfm || lastfm.state === 'broken' ? (
                <LinkLastfm onChange={status.reload} />
              ) : null
            ) : (
              <p class="sub">This server has no Last.fm API key, so Last.fm cannot be linked.</p>
            )}
          </section>
        </>
      )}
    </>
  );
}
