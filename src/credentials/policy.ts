// Password policy for choosing a new password, following NIST SP 800-63B-4
// §3.1.1.2 ("Password Verifiers"). The points of that section this module
// implements, and why the defaults are what they are:
//  - minimum length 15 when the password is the only authenticator (8 is the
//    floor when it is one factor of MFA);
//  - a maximum of at least 64 characters must be allowed;
//  - each Unicode code point counts as one character, after normalisation
//    (NFKC, which is also what the hasher stores);
//  - composition rules ("at least one digit...") SHALL NOT be imposed, so they
//    are off by default and exist only for deployments bound by older rules;
//  - candidates SHALL be compared against a blocklist of commonly used,
//    expected or compromised values, including context-specific words such as
//    the service name and the user's own identifiers.
// Periodic expiry is deliberately absent: §3.1.1.2 forbids it.

import { isCommonPassword } from './common-passwords.ts';
import { validatePasswordInput } from './input.ts';
import type { PasswordProblem } from './input.ts';

export interface PasswordPolicy {
  /** Minimum length in Unicode code points after NFKC normalisation. */
  minLength: number;
  /** Maximum length in code points after NFKC; SP 800-63B-4 requires allowing at least 64. */
  maxLength: number;
  /** Reject passwords on the shipped common/breached list. */
  rejectCommon: boolean;
  /** Reject passwords containing the user's identifiers or the service name. */
  rejectContextWords: boolean;
  /** Minimum count of each character class; 0 disables (the NIST-conformant default). */
  composition: { lowercase: number; uppercase: number; digits: number; symbols: number };
  /** How many previous passwords may not be reused; enforced by the caller with verify(). */
  history: number;
}

export const DEFAULT_PASSWORD_POLICY: Readonly<PasswordPolicy> = Object.freeze({
  minLength: 15,
  maxLength: 64,
  rejectCommon: true,
  rejectContextWords: true,
  composition: Object.freeze({ lowercase: 0, uppercase: 0, digits: 0, symbols: 0 }),
  history: 0,
});

/** The word every Gatehouse password is checked against, besides the user's own. */
export const SERVICE_CONTEXT_WORDS: readonly string[] = ['gatehouse'];

/** Context words shorter than this are only rejected as the whole password. */
const MIN_CONTEXT_WORD_LENGTH = 4;

/** Upper bound for maxLength, so any allowed password also fits MAX_PASSWORD_BYTES. */
const MAX_POLICY_LENGTH = 256;

/**
 * Checks a proposed new password against `policy` and returns every problem
 * found (empty when acceptable), so the user can fix them all at once.
 * `context.words` holds user-specific words (see passwordContextWords).
 */
export function checkPasswordPolicy(
  password: string,
  policy: PasswordPolicy,
  context: { words: string[] },
): PasswordProblem[] {
  const inputProblem = validatePasswordInput(password);
  if (inputProblem) return [inputProblem];
  const normalized = password.normalize('NFKC');
  return [
    ...lengthProblems(normalized, policy),
    ...compositionProblems(normalized, policy.composition),
    ...(policy.rejectCommon ? commonProblems(normalized) : []),
    ...(policy.rejectContextWords ? contextProblems(normalized, context.words) : []),
  ];
}

/**
 * Checks that a policy (e.g. from configuration) stays within what SP 800-63B-4
 * permits. Returns human-readable problems; empty means the policy is usable.
 */
export function validatePasswordPolicy(policy: PasswordPolicy): string[] {
  const problems: string[] = [];
  const { minLength, maxLength, composition, history } = policy;
  if (!Number.isInteger(minLength) || minLength < 8) {
    problems.push('minLength must be an integer of at least 8 (SP 800-63B-4 §3.1.1.2; 15 for single-factor use)');
  }
  if (!Number.isInteger(maxLength) || maxLength < 64 || maxLength > MAX_POLICY_LENGTH) {
    problems.push(`maxLength must be an integer from 64 (SP 800-63B-4 §3.1.1.2) to ${MAX_POLICY_LENGTH}`);
  } else if (maxLength < minLength) {
    problems.push('maxLength must not be less than minLength');
  }
  for (const [name, count] of Object.entries(composition)) {
    if (!Number.isInteger(count) || count < 0) problems.push(`composition.${name} must be a non-negative integer`);
  }
  if (!Number.isInteger(history) || history < 0) problems.push('history must be a non-negative integer');
  return problems;
}

/**
 * Builds context words from a user's identifiers: the username, the local
 * part of the email address, each part of the display name, and the service
 * name. Short parts are kept; the policy decides how to use them.
 */
export function passwordContextWords(user: {
  username?: string | undefined;
  email?: string | undefined;
  displayName?: string | undefined;
}): string[] {
  const words = [...SERVICE_CONTEXT_WORDS];
  if (user.username) words.push(user.username);
  const at = user.email?.lastIndexOf('@') ?? -1;
  if (user.email && at > 0) words.push(user.email.slice(0, at));
  if (user.displayName) words.push(...user.displayName.split(/\s+/u));
  return [...new Set(words.filter((word) => word !== ''))];
}

function lengthProblems(normalized: string, policy: PasswordPolicy): PasswordProblem[] {
  // Code points, not UTF-16 units or graphemes: §3.1.1.2 counts each code point as one character.
  const length = [...normalized].length;
  if (length < policy.minLength) {
    return [{ code: 'too_short', message: `password must be at least ${policy.minLength} characters` }];
  }
  if (length > policy.maxLength) {
    return [{ code: 'too_long', message: `password must be at most ${policy.maxLength} characters` }];
  }
  return [];
}

const CHARACTER_CLASSES = [
  { key: 'lowercase', pattern: /\p{Ll}/gu, noun: ['lowercase letter', 'lowercase letters'] },
  { key: 'uppercase', pattern: /\p{Lu}/gu, noun: ['uppercase letter', 'uppercase letters'] },
  { key: 'digits', pattern: /\p{Nd}/gu, noun: ['digit', 'digits'] },
  // Anything that is neither a letter nor a number, including spaces.
  { key: 'symbols', pattern: /[^\p{L}\p{N}]/gu, noun: ['symbol', 'symbols'] },
] as const;

function compositionProblems(normalized: string, required: PasswordPolicy['composition']): PasswordProblem[] {
  const problems: PasswordProblem[] = [];
  for (const { key, pattern, noun } of CHARACTER_CLASSES) {
    const minimum = required[key];
    if (minimum <= 0 || (normalized.match(pattern)?.length ?? 0) >= minimum) continue;
    problems.push({
      code: `composition_${key}`,
      message: `password must contain at least ${minimum} ${minimum === 1 ? noun[0] : noun[1]}`,
    });
  }
  return problems;
}

function commonProblems(normalized: string): PasswordProblem[] {
  const lower = normalized.toLowerCase();
  // "Password123!" is as guessable as "password": attackers try such suffixes first.
  const withoutSuffix = lower.replace(/[\p{N}\p{P}\p{S}\s]+$/u, '');
  const candidates = withoutSuffix === '' ? [lower] : [lower, withoutSuffix];
  if (!candidates.some(isCommonPassword)) return [];
  return [{ code: 'common', message: 'password is too common: it appears in lists of frequently used or breached passwords' }];
}

function contextProblems(normalized: string, words: readonly string[]): PasswordProblem[] {
  const lower = normalized.toLowerCase();
  const found = words.some((word) => {
    const needle = word.normalize('NFKC').toLowerCase();
    if (needle === '') return false;
    return lower === needle || ([...needle].length >= MIN_CONTEXT_WORD_LENGTH && lower.includes(needle));
  });
  if (!found) return [];
  return [{ code: 'context', message: 'password must not contain your username, email address, name, or the service name' }];
}
