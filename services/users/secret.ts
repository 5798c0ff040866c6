export {
  createSecretFile,
  newSecret,
  readSecretFile,
  replaceSecretFile,
  SecretError,
} from '../../common/secret-file.js';
export { loadTokenSecrets, type TokenSecrets } from '../../common/token-secrets.js';
