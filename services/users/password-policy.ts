import { dictionary } from '@zxcvbn-ts/language-common';

/** Fewest characters a password has, not counting spaces at either end. */
export const MIN_PASSWORD_LENGTH = 8;

/**
 * The common-password list of zxcvbn-ts (`@zxcvbn-ts/language-common`, MIT): about 49,000
 * passwords seen most often in leaks, lower case. Read once, on first use.
 */
let common: ReadonlySet<string> | undefined;
function commonPasswords(): ReadonlySet<string> {
  common ??= new Set((dictionary['passwords-common'] as string[]).map((p) => p.toLowerCase()));
  return common;
}

/**
 * Why a new password is not good enough, or undefined when it is: too short once spaces at
 * either end are left out (eight spaces are not a password), the username itself in any
 * letter case, or one of the common passwords guessers try first.
 */
export function passwordProblem(password: string, username: string): string | undefined {
  const core = password.trim();
  if ([...core].length < MIN_PASSWORD_LENGTH) {
    return `password must have at least ${MIN_PASSWORD_LENGTH} characters besides spaces at either end`;
  }
  const lower = core.toLowerCase();
  if (lower === username.trim().toLowerCase()) return 'password must not be the username';
  if (commonPasswords().has(lower)) {
    return 'password is one of the most common passwords, which guessers try first; choose another';
  }
  return undefined;
}
