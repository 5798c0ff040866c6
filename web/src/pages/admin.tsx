/**
 * User management, for administrators: every account (a page at a time), a new account,
 * and for each one enable or disable, make or remove an admin, a new password (their sessions
 * end) and delete. The users service decides who may: anyone else gets its refusal here.
 */
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import type { Account, Page } from '../../../common/contracts/index.js';
import { ApiError, change, enc, path } from '../api.js';
import { announce } from '../ui/announce.js';
import { FormError, Status, Title } from '../ui/title.js';
import { useApi } from '../use-api.js';

const PAGE = 50;
const messageOf = (err: unknown) => (err instanceof ApiError ? err.message : String(err));

export function AdminPage({ me }: { me: string }): JSX.Element {
  const [offset, setOffset] = useState(0);
  const list = useApi<Page<Account>>(path('/api/admin/users', { limit: PAGE, offset }));
  const [error, setError] = useState('');

  /** Runs one change, then shows the list again (or why it was refused). */
  const act = async (what: string, run: () => Promise<unknown>) => {
    setError('');
    try {
      await run();
      announce(what);
      list.reload();
    } catch (err) {
      setError(messageOf(err));
    }
  };

  return (
    <>
      <Title text="Users" />
      <NewUser
        onCreate={(body) => act(`Created ${body.username}`, () => change('POST', '/api/admin/users', body))}
      />
      <FormError message={error} />
      <section aria-labelledby="all-users" class="panel">
        <h2 id="all-users">Accounts</h2>
        {list.data ? (
          <>
            <table class="users">
              <thead>
                <tr>
                  <th scope="col">Username</th>
                  <th scope="col">Name</th>
                  <th scope="col">Role</th>
                  <th scope="col">State</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {list.data.items.map((u) => (
                  <UserRow key={u.id} user={u} self={u.id === me} act={act} />
                ))}
              </tbody>
            </table>
            <p class="sub">
              {list.data.total} accounts{' '}
              <button
                type="button"
                disabled={offset === 0}
                onClick={() => setOffset(Math.max(0, offset - PAGE))}
              >
                Previous
              </button>{' '}
              <button
                type="button"
                disabled={offset + PAGE >= list.data.total}
                onClick={() => setOffset(offset + PAGE)}
              >
                Next
              </button>
            </p>
          </>
        ) : (
          <Status error={list.error} />
        )}
      </section>
    </>
  );
}

/** A new password's input, bounded as the users contract bounds it. */
function NewPassword(props: { id: string; value: string; onChange: (value: string) => void }): JSX.Element {
  return (
    <input
      id={props.id}
      type="password"
      required
      minLength={8}
      maxLength={200}
      autocomplete="new-password"
      value={props.value}
      onInput={(e) => props.onChange(e.currentTarget.value)}
    />
  );
}

function NewUser({
  onCreate,
}: {
  onCreate: (body: { username: string; password: string; admin: boolean }) => Promise<void>;
}): JSX.Element {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [admin, setAdmin] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    await onCreate({ username, password, admin });
    setUsername('');
    setPassword('');
    setAdmin(false);
  };
  return (
    <form class="inline-form panel" onSubmit={(e) => void submit(e)} aria-labelledby="new-user-title">
      <h2 id="new-user-title">New account</h2>
      <label for="new-user-name">Username</label>
      <input
        id="new-user-name"
        required
        maxLength={32}
        autocomplete="off"
        value={username}
        onInput={(e) => setUsername(e.currentTarget.value)}
      />
      <label for="new-user-password">Password</label>
      <NewPassword id="new-user-password" value={password} onChange={setPassword} />
      <label class="check">
        <input type="checkbox" checked={admin} onChange={(e) => setAdmin(e.currentTarget.checked)} />
        Administrator
      </label>
      <button type="submit" class="primary">
        Create account
      </button>
    </form>
  );
}

function UserRow({
  user,
  self,
  act,
}: {
  user: Account;
  self: boolean;
  act: (what: string, run: () => Promise<unknown>) => Promise<void>;
}): JSX.Element {
  const [resetting, setResetting] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const [password, setPassword] = useState('');
  const url = `/api/admin/users/${enc(user.id)}`;
  const patch = (what: string, body: Record<string, unknown>) => act(what, () => change('PATCH', url, body));
  const reset = async (e: Event) => {
    e.preventDefault();
    await patch(`New password for ${user.username}`, { password });
    setPassword('');
    setResetting(false);
  };
  return (
    <tr data-username={user.username}>
      <th scope="row">{user.username}</th>
      <td>{user.displayName}</td>
      <td>{user.admin ? 'admin' : 'user'}</td>
      <td>{user.disabled ? 'disabled' : 'enabled'}</td>
      <td class="actions">
        {self ? (
          <span class="sub">you</span>
        ) : (
          <>
            <button
              type="button"
              onClick={() =>
                void patch(`${user.username} ${user.disabled ? 'enabled' : 'disabled'}`, {
                  disabled: !user.disabled,
                })
              }
            >
              {user.disabled ? 'Enable' : 'Disable'}
            </button>
            <button
              type="button"
              onClick={() =>
                void patch(`${user.username} ${user.admin ? 'is no longer' : 'is now'} an admin`, {
                  admin: !user.admin,
                })
              }
            >
              {user.admin ? 'Remove admin' : 'Make admin'}
            </button>
            {confirming ? (
              <button
                type="button"
                class="danger"
                onClick={() => void act(`Deleted ${user.username}`, () => change('DELETE', url))}
              >
                Confirm delete
              </button>
            ) : (
              <button type="button" onClick={() => setConfirming(true)}>
                Delete
              </button>
            )}
          </>
        )}
        {resetting ? (
          <form class="inline-form" onSubmit={(e) => void reset(e)}>
            <label for={`reset-${user.id}`}>New password for {user.username}</label>
            <NewPassword id={`reset-${user.id}`} value={password} onChange={setPassword} />
            <button type="submit">Set password</button>
          </form>
        ) : (
          <button type="button" onClick={() => setResetting(true)}>
            Reset password
          </button>
        )}
      </td>
    </tr>
  );
}
