/**
 * The token secret kept in TOKEN_SECRET_FILE (when TOKEN_SECRET is not set):
 *
 *   npm run secret -- show-path   where it is
 *   npm run secret -- rotate      a new current secret; the old one stays accepted
 *   npm run secret -- retire      forget the previous secret (after TOKEN_TTL_SECONDS)
 *
 * After `rotate`, restart the users workers one at a time: each then signs with the new secret
 * and still accepts sessions signed with the old one, and Subsonic passwords sealed under the
 * old one are sealed again under the new one as they are used. Once every session signed with
 * the old secret has expired (TOKEN_TTL_SECONDS, 7 days by default), `retire` it and restart
 * the users workers again. docs/SECURITY.md says more.
 */
import {
  config,
  loadTokenSecrets,
  newSecret,
  readSecretFile,
  replaceSecretFile,
  repoPath,
} from '../common/index.js';

const command = process.argv[2];
const cfg = config();
const file = repoPath(cfg.tokenSecretFile);

if (cfg.tokenSecret && command !== 'show-path') {
  console.error(
    'TOKEN_SECRET is set: rotate it where it is set (TOKEN_SECRET_PREVIOUS keeps the old one accepted)',
  );
  process.exit(2);
}

switch (command) {
  case 'show-path':
    console.log(cfg.tokenSecret ? 'TOKEN_SECRET (from the environment)' : file);
    break;
  case 'rotate': {
    const { current } = await loadTokenSecrets(cfg);
    await replaceSecretFile(file, [newSecret(), current]);
    console.log(`rotated: ${file} holds a new secret and the previous one; restart the users workers`);
    break;
  }
  case 'retire': {
    const [current, ...previous] = await readSecretFile(file);
    await replaceSecretFile(file, [current!]);
    console.log(`retired ${previous.length} previous secret(s); restart the users workers`);
    break;
  }
  default:
    console.error('usage: npm run secret -- <show-path|rotate|retire>');
    process.exit(2);
}
