/**
 * Your playlists: create, rename, public or private, delete; a playlist's tracks can be
 * played, removed and reordered by drag and drop or with the keyboard (the handle of a row
 * moves it with the up and down arrow keys). Smart playlists are made from rules (or a
 * Navidrome `.nsp` file), their rules edited, their tracks read-only.
 */
import type { JSX, LiHTMLAttributes } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { Playlist, PlaylistDetail, Track } from '../../../common/contracts/index.js';
import { ApiError, change, download, enc, get } from '../api.js';
import { clockMs, plural } from '../format.js';
import { player } from '../player/controller.js';
import { navigate } from '../router.js';
import { session } from '../session.js';
import { useStore } from '../store.js';
import { announce } from '../ui/announce.js';
import { Icon } from '../ui/icons.js';
import { Link } from '../ui/link.js';
import { NameField } from '../ui/name-field.js';
import { ShareButton } from '../ui/share-form.js';
import { SmartRulesEditor } from '../ui/smart-rules.js';
import { FormError, Status, Title } from '../ui/title.js';
import { TrackList } from '../ui/track-list.js';
import { useApi } from '../use-api.js';

const messageOf = (err: unknown) => (err instanceof ApiError ? err.message : String(err));

export function PlaylistsPage(): JSX.Element {
  const list = useApi<Playlist[]>('/api/playlists');
  const [name, setName] = useState('');
  const [isPublic, setPublic] = useState(false);
  const [error, setError] = useState('');
  const create = async (e: Event) => {
    e.preventDefault();
    setError('');
    try {
      const p = await change<PlaylistDetail>('POST', '/api/playlists', { name, public: isPublic });
      announce(`Created ${p.name}`);
      navigate(`/playlists/${enc(p.id)}`);
    } catch (err) {
      setError(messageOf(err));
    }
  };
  return (
    <>
      <Title text="Playlists" />
      <form class="inline-form panel" onSubmit={(e) => void create(e)} aria-labelledby="new-playlist-title">
        <h2 id="new-playlist-title">New playlist</h2>
        <NameField id="new-playlist-name" label="Name" value={name} onChange={setName} />
        <label class="check">
          <input type="checkbox" checked={isPublic} onChange={(e) => setPublic(e.currentTarget.checked)} />
          Public
        </label>
        <button type="submit" class="primary">
          Create playlist
        </button>
        <FormError message={error} />
      </form>
      <NewSmartPlaylist />
      <section aria-labelledby="your-playlists" class="panel">
        <h2 id="your-playlists">Your playlists</h2>
        {list.data ? (
          list.data.length > 0 ? (
            <ul class="plain playlist-list">
              {list.data.map((p) => (
                <li key={p.id}>
                  <Link href={`/playlists/${enc(p.id)}`}>{p.name}</Link>
                  <span class="sub">
                    {' '}
                    {plural(p.trackCount, 'track')} · {clockMs(p.durationMs)} ·{' '}
                    {p.public ? 'public' : 'private'}
                    {p.rules ? ' · smart' : ''}
                    {p.file ? ` · from ${p.file.path}` : ''}
                  </span>
                </li>
              ))}
            </ul>
          ) : (
            <p class="empty">
              No playlists yet: create one above, then add tracks from any list with “More actions”.
            </p>
          )
        ) : (
          <Status error={list.error} />
        )}
      </section>
    </>
  );
}

/** A smart playlist from rules made here, or from a Navidrome `.nsp` file. */
function NewSmartPlaylist(): JSX.Element {
  const [name, setName] = useState('');
  const [error, setError] = useState('');
  const made = (p: PlaylistDetail) => {
    announce(`Created ${p.name}`);
    navigate(`/playlists/${enc(p.id)}`);
  };
  const create = async (rules: unknown) => {
    setError('');
    try {
      made(await change<PlaylistDetail>('POST', '/api/playlists/smart', { name, rules }));
    } catch (err) {
      setError(messageOf(err));
    }
  };
  const importFile = async (file: File | undefined) => {
    if (!file) return;
    setError('');
    try {
      const nsp = await file.text();
      made(
        await change<PlaylistDetail>('POST', '/api/playlists/import-nsp', { nsp, ...(name ? { name } : {}) }),
      );
    } catch (err) {
      setError(messageOf(err));
    }
  };
  return (
    <section class="panel" aria-labelledby="new-smart-title">
      <h2 id="new-smart-title">New smart playlist</h2>
      <p class="hint">Its tracks are the ones its rules pick, kept up to date as you listen.</p>
      <SmartRulesEditor
        id="new-smart"
        submitLabel="Create smart playlist"
        onSubmit={create}
        onError={setError}
      >
        <NameField id="new-smart-name" label="Smart playlist name" value={name} onChange={setName} />
      </SmartRulesEditor>
      <label for="import-nsp">Or import a Navidrome .nsp file</label>
      <input
        id="import-nsp"
        type="file"
        accept=".nsp,application/json"
        onChange={(e) => void importFile(e.currentTarget.files?.[0])}
      />
      <FormError message={error} />
    </section>
  );
}

/** A playlist's rows with keys that follow them as they move (the same track may be there twice). */
interface Rows {
  keys: number[];
  tracks: Track[];
}

let nextRowKey = 1;
const rowsOf = (p: PlaylistDetail): Rows => ({
  keys: p.tracks.map(() => nextRowKey++),
  tracks: p.tracks.map((e) => e.track),
});

/** Entries read at a time: the gateway's largest page. More are read on demand ("Show more"). */
const PAGE = 500;

/** The position after a page's last entry: where the next page starts. */
const nextOffset = (p: PlaylistDetail): number => (p.tracks.at(-1)?.position ?? p.offset - 1) + 1;

function moved<T>(list: readonly T[], from: number, to: number): T[] {
  const copy = [...list];
  const [item] = copy.splice(from, 1);
  copy.splice(to, 0, item!);
  return copy;
}

export function PlaylistPage({ id }: { id: string }): JSX.Element {
  const loaded = useApi<PlaylistDetail>(`/api/playlists/${enc(id)}?limit=${PAGE}`);
  const me = useStore(session);
  const [detail, setDetail] = useState<PlaylistDetail | null>(null);
  const [rows, setRows] = useState<Rows>({ keys: [], tracks: [] });
  /** Where the next page of entries starts (the playlist's length once every page is shown). */
  const [readTo, setReadTo] = useState(0);
  /** The rows of the last render, for comparing a change's answer after it arrives. */
  const shown = useRef(rows);
  shown.current = rows;
  const [error, setError] = useState('');
  const [renaming, setRenaming] = useState(false);
  const [editingRules, setEditingRules] = useState(false);
  const [newName, setNewName] = useState('');
  const [dragFrom, setDragFrom] = useState<number | null>(null);
  const [dropAt, setDropAt] = useState<number | null>(null);
  const focusKey = useRef<number | null>(null);
  const confirmDelete = useRef<HTMLDialogElement>(null);

  useEffect(() => {
    if (!loaded.data) return;
    setDetail(loaded.data);
    setRows(rowsOf(loaded.data));
    setReadTo(nextOffset(loaded.data));
  }, [loaded.data]);

  // After a keyboard move, focus stays on the handle of the row that moved.
  useEffect(() => {
    if (focusKey.current === null) return;
    document.querySelector<HTMLElement>(`[data-row-key="${focusKey.current}"]`)?.focus();
    focusKey.current = null;
  });

  const p = detail;
  if (!p)
    return (
      <>
        <Title text="Playlist" />
        <Status error={loaded.error} />
      </>
    );
  const mine = me?.user.id === p.ownerId;
  /** Whether its tracks may be moved and removed one by one: an ordinary playlist of the listener's. */
  const editable = mine && !p.rules && !p.file;
  /** Its name, tracks and existence follow a playlist file of a library. */
  const fromFile = p.file;

  /** Runs a change; its answer is the playlist as it is now (rows shown already stay when they agree with it). */
  const apply = async (run: () => Promise<PlaylistDetail | Playlist>) => {
    setError('');
    try {
      const next = await run();
      setDetail((d) => ({ ...d!, ...next, offset: d!.offset, limit: d!.limit }));
      if ('tracks' in next) {
        // The answer holds the first page: rows shown that agree with it stay; otherwise the
        // answer is the whole playlist when it fits, else the pages are read again.
        const ids = next.tracks.map((e) => e.track.id).join('\n');
        const agree = shown.current.tracks
          .slice(0, next.tracks.length)
          .map((t) => t.id)
          .join('\n');
        if (agree !== ids) {
          if (nextOffset(next) >= next.trackCount) {
            setRows(rowsOf(next));
            setReadTo(nextOffset(next));
          } else loaded.reload();
        }
      }
      return true;
    } catch (err) {
      setError(messageOf(err));
      loaded.reload();
      return false;
    }
  };

  const move = async (from: number, to: number, how: 'keyboard' | 'drag') => {
    if (from === to || to < 0 || to >= rows.tracks.length) return;
    const title = rows.tracks[from]!.title;
    if (how === 'keyboard') focusKey.current = rows.keys[from]!;
    // Shown at once; the answer confirms it (or the playlist is loaded again).
    setRows({ keys: moved(rows.keys, from, to), tracks: moved(rows.tracks, from, to) });
    const ok = await apply(() =>
      change<PlaylistDetail>('POST', `/api/playlists/${enc(p.id)}/tracks/move`, { from, to }),
    );
    if (ok) announce(`Moved ${title} to position ${to + 1} of ${rows.tracks.length}`);
  };

  const remove = async (index: number) => {
    const title = rows.tracks[index]!.title;
    if (await apply(() => change<PlaylistDetail>('DELETE', `/api/playlists/${enc(p.id)}/tracks/${index}`)))
      announce(`Removed ${title} from ${p.name}`);
  };

  const rename = async (e: Event) => {
    e.preventDefault();
    const name = newName;
    if (await apply(() => change<Playlist>('PATCH', `/api/playlists/${enc(p.id)}`, { name }))) {
      setRenaming(false);
      announce(`Renamed to ${name}`);
    }
  };

  const setPublic = async (value: boolean) => {
    if (await apply(() => change<Playlist>('PATCH', `/api/playlists/${enc(p.id)}`, { public: value })))
      announce(value ? `${p.name} is public` : `${p.name} is private`);
  };

  const showMore = async () => {
    setError('');
    try {
      const page = await get<PlaylistDetail>(`/api/playlists/${enc(p.id)}?limit=${PAGE}&offset=${readTo}`);
      const more = rowsOf(page);
      setRows((r) => ({ keys: [...r.keys, ...more.keys], tracks: [...r.tracks, ...more.tracks] }));
      setReadTo(nextOffset(page));
      announce(`Showing ${rows.tracks.length + more.tracks.length} of ${page.trackCount} tracks`);
    } catch (err) {
      setError(messageOf(err));
    }
  };

  const deletePlaylist = async () => {
    try {
      await change('DELETE', `/api/playlists/${enc(p.id)}`);
      announce(`Deleted ${p.name}`);
      navigate('/playlists');
    } catch (err) {
      setError(messageOf(err));
    }
  };

  /** Saves the playlist as an `.m3u8` file (tracks the listener may not see are left out by the server). */
  const exportFile = async () => {
    setError('');
    try {
      const file = await download(`/api/playlists/${enc(p.id)}/export`);
      const url = URL.createObjectURL(new Blob([file.text], { type: file.type }));
      const link = document.createElement('a');
      link.href = url;
      link.download = file.fileName;
      link.click();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
      announce(`Exported ${p.name}`);
    } catch (err) {
      setError((err as Error).message);
    }
  };

  const saveRules = async (rules: unknown) => {
    if (await apply(() => change<PlaylistDetail>('PUT', `/api/playlists/${enc(p.id)}/rules`, rules))) {
      setEditingRules(false);
      loaded.reload();
      announce(`Saved the rules of ${p.name}`);
    }
  };

  const handle = (t: Track, i: number) =>
    editable ? (
      <button
        type="button"
        class="icon-button handle"
        data-row-key={rows.keys[i]}
        aria-label={`Move ${t.title}, position ${i + 1} of ${rows.tracks.length}`}
        aria-describedby="reorder-hint"
        onKeyDown={(e) => {
          if (e.key !== 'ArrowUp' && e.key !== 'ArrowDown') return;
          e.preventDefault();
          void move(i, e.key === 'ArrowUp' ? i - 1 : i + 1, 'keyboard');
        }}
      >
        <Icon name="drag" />
      </button>
    ) : null;

  const row = (i: number): LiHTMLAttributes =>
    editable
      ? {
          class: [
            dropAt === i && dragFrom !== null && dragFrom !== i ? 'drop-target' : '',
            dragFrom === i ? 'dragging' : '',
          ]
            .filter(Boolean)
            .join(' '),
          draggable: true,
          onDragStart: (e: DragEvent) => {
            setDragFrom(i);
            e.dataTransfer?.setData('text/plain', String(i));
            if (e.dataTransfer) e.dataTransfer.effectAllowed = 'move';
          },
          onDragEnd: () => {
            setDragFrom(null);
            setDropAt(null);
          },
          onDragOver: (e: DragEvent) => {
            if (dragFrom === null) return;
            e.preventDefault();
            if (e.dataTransfer) e.dataTransfer.dropEffect = 'move';
            setDropAt(i);
          },
          onDrop: (e: DragEvent) => {
            e.preventDefault();
            const from = dragFrom ?? Number(e.dataTransfer?.getData('text/plain'));
            setDragFrom(null);
            setDropAt(null);
            if (Number.isInteger(from)) void move(from, i, 'drag');
          },
        }
      : {};

  return (
    <>
      <div class="hero">
        <div>
          <p class="kind">
            {p.public ? 'Public' : 'Private'}{' '}
            {p.rules ? 'smart playlist' : fromFile ? 'file playlist' : 'playlist'}
          </p>
          <Title text={p.name} />
          {renaming ? (
            <form class="inline-form" onSubmit={(e) => void rename(e)}>
              <NameField id="rename-input" label="New name" value={newName} onChange={setNewName} />
              <button type="submit" class="primary">
                Save
              </button>
              <button type="button" onClick={() => setRenaming(false)}>
                Cancel
              </button>
            </form>
          ) : null}
          <p class="sub">
            {mine ? 'Yours' : `By ${p.ownerName}`} · {plural(p.trackCount, 'track')} · {clockMs(p.durationMs)}
          </p>
          <div class="actions">
            <button
              type="button"
              class="primary"
              disabled={!rows.tracks.some((t) => !t.unavailable)}
              onClick={() =>
                player.playList(
                  p.name,
                  rows.tracks.filter((t) => !t.unavailable),
                  0,
                )
              }
            >
              <Icon name="play" /> Play
            </button>
            {mine ? (
              <>
                {renaming || fromFile ? null : (
                  <button
                    type="button"
                    onClick={() => {
                      setNewName(p.name);
                      setRenaming(true);
                    }}
                  >
                    Rename
                  </button>
                )}
                {p.rules && !editingRules ? (
                  <button type="button" onClick={() => setEditingRules(true)}>
                    Edit rules
                  </button>
                ) : null}
                <label class="check">
                  <input
                    type="checkbox"
                    checked={p.public}
                    onChange={(e) => void setPublic(e.currentTarget.checked)}
                  />
                  Public
                </label>
                {fromFile ? null : (
                  <button type="button" class="danger" onClick={() => confirmDelete.current?.showModal()}>
                    Delete playlist
                  </button>
                )}
                <ShareButton kind="playlist" id={p.id} name={p.name} />
              </>
            ) : null}
            <button type="button" onClick={() => void exportFile()}>
              Export .m3u8
            </button>
          </div>
        </div>
      </div>
      <FormError message={error} />
      {p.rules && editingRules ? (
        <section class="panel" aria-label="Rules">
          <SmartRulesEditor
            id="edit-rules"
            initial={p.rules}
            submitLabel="Save rules"
            onSubmit={saveRules}
            onError={setError}
          >
            <button type="button" onClick={() => setEditingRules(false)}>
              Cancel
            </button>
          </SmartRulesEditor>
        </section>
      ) : null}
      {p.rules ? (
        <p class="hint">
          Its tracks are the ones its rules pick now; they follow your listening and the catalog.
        </p>
      ) : null}
      {fromFile ? (
        <section class="panel" aria-label="Playlist file">
          <p class="hint">
            Its name and tracks follow the playlist file <code>{fromFile.path}</code> of its library: edit the
            file to change them.
          </p>
          {fromFile.error ? <p class="error">The file's last version was refused: {fromFile.error}</p> : null}
          {fromFile.missingCount > 0 ? (
            <details>
              <summary>{plural(fromFile.missingCount, 'entry', 'entries')} of the file not found</summary>
              <ul class="plain">
                {fromFile.missing.map((m) => (
                  <li key={m.line}>
                    line {m.line}: <code>{m.entry}</code> ({m.reason})
                  </li>
                ))}
              </ul>
            </details>
          ) : null}
        </section>
      ) : null}
      {editable ? (
        <p id="reorder-hint" class="hint">
          To reorder, drag a row by its handle, or focus the handle and press the up or down arrow key.
        </p>
      ) : null}
      {rows.tracks.length === 0 ? (
        p.rules ? (
          <p class="empty">No track matches these rules now.</p>
        ) : (
          <p class="empty">
            This playlist is empty. Add tracks from an <Link href="/artists">album</Link> or a{' '}
            <Link href="/search">search</Link> with “More actions”.
          </p>
        )
      ) : (
        <TrackList
          tracks={rows.tracks}
          keys={rows.keys}
          label={p.name}
          lead={handle}
          row={row}
          extra={(t, i) =>
            editable ? (
              <button
                type="button"
                class="icon-button"
                aria-label={`Remove ${t.title} from ${p.name}`}
                onClick={() => void remove(i)}
              >
                <Icon name="remove" />
              </button>
            ) : null
          }
        />
      )}
      {readTo < p.trackCount && rows.tracks.length > 0 ? (
        <p class="more">
          <button type="button" onClick={() => void showMore()}>
            Show more ({rows.tracks.length} of {p.trackCount} shown)
          </button>
        </p>
      ) : null}
      <dialog ref={confirmDelete} class="dialog" aria-labelledby="delete-title">
        <form method="dialog" class="dialog-body">
          <h2 id="delete-title">Delete {p.name}?</h2>
          <p>The playlist goes for good; its tracks stay in the catalog.</p>
          <div class="dialog-footer">
            <button type="submit" value="cancel">
              Keep it
            </button>
            <button type="button" class="danger" onClick={() => void deletePlaylist()}>
              Delete
            </button>
          </div>
        </form>
      </dialog>
    </>
  );
}
