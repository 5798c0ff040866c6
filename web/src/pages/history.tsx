/** Your plays, newest first; live, so a play appears here moments after it is reported. */
import type { JSX } from 'preact';
import type { Play } from '../../../common/contracts/index.js';
import { Status, Title } from '../ui/title.js';
import { useApi } from '../use-api.js';
import { PlaysList } from './plays-list.js';

export function HistoryPage(): JSX.Element {
  const plays = useApi<Play[]>('/api/me/history?limit=100', { live: true });
  return (
    <>
      <Title text="History" />
      {plays.data ? <PlaysList plays={plays.data} /> : <Status error={plays.error} />}
    </>
  );
}
