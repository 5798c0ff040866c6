/** Log in, or register and log in. */
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import type { Session } from '../../../common/contracts/index.js';
import { ApiError, change } from '../api.js';
import { location, navigate } from '../router.js';
import { saveSession } from '../session.js';
import { Link } from '../ui/link.js';
import { FormError, Title } from '../ui/title.js';

/** Where to go after logging in: the page that asked for it, if it is one of ours. */
function nextPath(): string {
  const next = location.get().query.get('next') ?? '/';
  return next.startsWith('/') && !next.startsWith('//') ? next : '/';
}

export function LoginPage({ register }: { register: boolean }): JSX.Element {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      if (register) await change('POST', '/api/users', { username, password });
      const s = await change<Session>('POST', '/api/sessions', { username, password });
      saveSession(s);
      navigate(nextPath(), { replace: true });
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };

  const title = register ? 'Create an account' : 'Log in';
  return (
    <div class="auth-box">
      <p class="brand">Music</p>
      <Title text={title} />
      <form onSubmit={(e) => void submit(e)}>
        <label for="username">Username</label>
        <input
          id="username"
          name="username"
          autoComplete="username"
          required
          minLength={register ? 3 : 1}
          maxLength={register ? 32 : 64}
          value={username}
          onInput={(e) => setUsername(e.currentTarget.value)}
        />
        <label for="password">Password</label>
        <input
          id="password"
          name="password"
          type="password"
          autoComplete={register ? 'new-password' : 'current-password'}
          required
          minLength={register ? 8 : 1}
          maxLength={200}
          aria-describedby={register ? 'password-hint' : undefined}
          value={password}
          onInput={(e) => setPassword(e.currentTarget.value)}
        />
        {register ? (
          <p id="password-hint" class="hint">
            At least 8 characters.
          </p>
        ) : null}
        <FormError message={error} />
        <button type="submit" class="primary" disabled={busy}>
          {register ? 'Create account' : 'Log in'}
        </button>
      </form>
      <p>
        {register ? (
          <>
            Already have an account? <Link href="/login">Log in</Link>
          </>
        ) : (
          <>
            New here? <Link href="/register">Create an account</Link>
          </>
        )}
      </p>
    </div>
  );
}
