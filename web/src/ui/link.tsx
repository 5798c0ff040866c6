import type { ComponentChildren, JSX } from 'preact';
import { navigate } from '../router.js';

interface Props {
  href: string;
  class?: string;
  'aria-current'?: 'page' | 'true' | undefined;
  children: ComponentChildren;
}

/** A real link (it opens in a new tab, it can be copied) that navigates inside the app on a plain click. */
export function Link({ href, children, ...rest }: Props): JSX.Element {
  const onClick = (e: MouseEvent) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(href);
  };
  return (
    <a href={href} onClick={onClick} {...rest}>
      {children}
    </a>
  );
}
