/**
 * The page a share link opens (`/s/<token>`): what was shared, playable without an account,
 * and nothing else. It talks only to the link's own endpoints (`/api/shares/<token>/...`),
 * which answer for the shared tracks only; an expired or deleted link shows "This link has
 * expired". Plays are reported to the link (counted as plays of the track by no user).
 */
import { type JSX, render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { OpenedShare, Track } from '../../../common/contracts/index.js';
import { clockMs, plural } from '../format.js';
import { countsAsPlay, ListenMeter, type StopReason } from '../player/listening.js';
import '../styles.css';

/** The most tracks one page of the link's answer holds (the API's largest page). */
const PAGE = 500;
/** The most tracks the page loads (a playlist's largest size). */
const MAX_TRACKS = 10_000;

const token = window.location.pathname.split('/')[2] ?? '';
const base = `/api/shares/${encodeURIComponent(token)}`;

type Loaded =
  | { state: 'loading' }
  | { state: 'gone' }
  | { state: 'error'; message: string }
  | { state: 'ok'; share: OpenedShare };

/** The shared tracks, page after page (the first request, without `offset`, counts the visit). */
async function load(): Promise<Loaded> {
  const first = await fetch(`${base}?limit=${PAGE}`, { headers: { accept: 'application/json' } });
  if (first.status === 404) return { state: 'gone' };
  if (!first.ok)
    return { state: 'error', message: `The server answered ${first.status}. Try again shortly.` };
  const share = (await first.json()) as OpenedShare;
  const tracks = [...share.tracks];
  for (let offset = PAGE; offset < Math.min(share.trackCount, MAX_TRACKS); offset += PAGE) {
    const next = await fetch(`${base}?offset=${offset}&limit=${PAGE}`, {
      headers: { accept: 'application/json' },
    });
    if (next.status === 404) return { state: 'gone' };
    if (!next.ok) break;
    tracks.push(...((await next.json()) as OpenedShare).tracks);
  }
  return { state: 'ok', share: { ...share, tracks } };
}

/** Reports a play through the link; retried once (the play id makes a retry count once). */
async function reportPlay(trackId: string, msPlayed: number): Promise<void> {
  const body = JSON.stringify({ trackId, msPlayed, playId: crypto.randomUUID() });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const res = await fetch(`${base}/plays`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
      if (res.status < 500) return;
    } catch {
      // No answer: try once more.
    }
  }
}

const KIND = { track: 'Track', album: 'Album', playlist: 'Playlist' } as const;

function Expired(): JSX.Element {
  useEffect(() => {
    document.title = 'This link has expired';
  }, []);
  return (
    <main id="main" class="share-page">
      <h1>This link has expired</h1>
      <p>
        The music shared through this link is no longer available: the link expired or the person who shared
        it removed it.
      </p>
    </main>
  );
}

function SharePlayer({ share }: { share: OpenedShare }): JSX.Element {
  const audio = useRef<HTMLAudioElement>(null);
  const meter = useRef(new ListenMeter());
  const [current, setCurrent] = useState<number | null>(null);
  const [gone, setGone] = useState(false);
  const tracks = share.tracks;
  useEffect(() => {
    document.title = `${share.name || 'Shared music'} · shared with you`;
  }, [share.name]);

  /** The track that was playing stops: counted when it counts as a play. */
  const stopped = (reason: StopReason) => {
    const track = current === null ? undefined : tracks[current];
    if (track && countsAsPlay(reason, meter.current.listenedMs))
      void reportPlay(track.id, meter.current.listenedMs);
    meter.current = new ListenMeter();
  };

  const play = (index: number) => {
    if (current !== null && index !== current) stopped('skipped');
    const track = tracks[index];
    const el = audio.current;
    if (!track || !el) return;
    setCurrent(index);
    el.src = `${base}/tracks/${encodeURIComponent(track.id)}/stream`;
    void el.play().catch(() => {});
  };

  const onEnded = () => {
    stopped('ended');
    if (current !== null && current + 1 < tracks.length) play(current + 1);
    else setCurrent(null);
  };

  // A link deleted or expired while the page is open: its streams answer 404.
  const onError = async () => {
    const res = await fetch(`${base}?offset=0&limit=1`, { headers: { accept: 'application/json' } }).catch(
      () => null,
    );
    if (res?.status === 404) setGone(true);
  };

  if (gone) return <Expired />;
  const playing = current === null ? undefined : tracks[current];
  const cover = tracks[0] ? `${base}/tracks/${encodeURIComponent(tracks[0].id)}/cover?size=300` : null;
  return (
    <main id="main" class="share-page">
      <div class="hero">
        {cover ? <img class="cover share-cover" src={cover} alt="" width={220} height={220} /> : null}
        <div>
          <p class="kind">Shared {KIND[share.kind].toLowerCase()}</p>
          <h1>{share.name || 'Shared music'}</h1>
          <p class="sub">
            Shared by {share.ownerName} · {plural(share.trackCount, 'track')}
            {share.expiresAt ? ` · until ${new Date(share.expiresAt).toLocaleString()}` : ''}
          </p>
          {share.description ? <p class="share-description">{share.description}</p> : null}
          <div class="actions">
            <button type="button" class="primary" disabled={tracks.length === 0} onClick={() => play(0)}>
              Play
            </button>
          </div>
        </div>
      </div>
      {/* biome-ignore lint/a11y/useMediaCaption: music, nothing spoken to caption */}
      <audio
        ref={audio}
        controls
        preload="none"
        aria-label={playing ? `Playing ${playing.title}` : 'Player'}
        onTimeUpdate={(e) => meter.current.at(e.currentTarget.currentTime * 1000)}
        onSeeking={() => meter.current.jumped()}
        onEnded={onEnded}
        onError={() => void onError()}
      />
      {tracks.length === 0 ? (
        <p class="empty">Nothing here can be played any more.</p>
      ) : (
        <ol class="tracks" aria-label="Shared tracks">
          {tracks.map((t: Track, i) => (
            <li key={`${t.id}-${i}`} class={`track${i === current ? ' current' : ''}`}>
              <button
                type="button"
                class="icon-button"
                aria-label={`Play ${t.title}`}
                onClick={() => play(i)}
              >
                ▶
              </button>
              <span class="meta">
                <span class="title">{t.title}</span>
                <span class="sub">
                  {t.artistName} · {t.albumTitle}
                </span>
              </span>
              <span class="time">{clockMs(t.durationMs)}</span>
              {share.downloadable ? (
                <a href={`${base}/tracks/${encodeURIComponent(t.id)}/download`} download>
                  Download
                </a>
              ) : null}
            </li>
          ))}
        </ol>
      )}
    </main>
  );
}

function SharePage(): JSX.Element {
  const [loaded, setLoaded] = useState<Loaded>({ state: 'loading' });
  useEffect(() => {
    load()
      .then(setLoaded)
      .catch(() =>
        setLoaded({ state: 'error', message: 'The server cannot be reached. Try again shortly.' }),
      );
  }, []);
  if (loaded.state === 'gone') return <Expired />;
  if (loaded.state === 'ok') return <SharePlayer share={loaded.share} />;
  return (
    <main id="main" class="share-page">
      {loaded.state === 'error' ? (
        <p class="error" role="alert">
          {loaded.message}
        </p>
      ) : (
        <p class="loading">Loading…</p>
      )}
    </main>
  );
}

render(<SharePage />, document.getElementById('app')!);
