import type { JSX } from 'preact';

/** The most characters of a playlist's name (the playlists contract's own bound). */
const MAX_NAME = 200;

/** A labelled input for a playlist's name. */
export function NameField(props: {
  id: string;
  label: string;
  value: string;
  onChange: (value: string) => void;
}): JSX.Element {
  return (
    <>
      <label for={props.id}>{props.label}</label>
      <input
        id={props.id}
        required
        maxLength={MAX_NAME}
        value={props.value}
        onInput={(e) => props.onChange(e.currentTarget.value)}
      />
    </>
  );
}
