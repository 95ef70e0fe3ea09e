// Validation of a password as received from a client, before any hashing or
// policy check. These are hard limits that apply to every password operation
// (login, enrolment, change), independent of the configurable policy.

export interface PasswordProblem {
  /** Stable machine-readable code, e.g. `too_short`. */
  code: string;
  /** Human-readable explanation, suitable for showing to the user. */
  message: string;
}

/**
 * Hard cap on the UTF-8 size of any password we will process. It bounds the
 * work a single request can cause (hashing cost grows with input length for
 * the legacy schemes, and NFKC normalisation with the string) while sitting far
 * above the policy maximum (64 code points is at most 256 bytes).
 */
export const MAX_PASSWORD_BYTES = 1024;

/** Thrown by operations that need a valid password, such as hashing one. */
export class PasswordInputError extends Error {
  readonly problem: PasswordProblem;

  constructor(problem: PasswordProblem) {
    super(problem.message);
    this.name = 'PasswordInputError';
    this.problem = problem;
  }
}

/**
 * Returns the first reason `password` cannot be processed at all, or undefined
 * if it is acceptable input. Cheap checks come first so that a huge input is
 * rejected without scanning it.
 */
export function validatePasswordInput(password: unknown): PasswordProblem | undefined {
  if (typeof password !== 'string') {
    return { code: 'not_string', message: 'password must be a string' };
  }
  if (password.length === 0) {
    return { code: 'empty', message: 'password must not be empty' };
  }
  if (utf8ExceedsLimit(password)) {
    return {
      code: 'too_many_bytes',
      message: `password is longer than ${MAX_PASSWORD_BYTES} bytes`,
    };
  }
  // A lone surrogate is what invalid UTF-8 turns into after lenient decoding;
  // it would silently become U+FFFD when encoded for hashing, so that distinct
  // inputs could collide.
  if (!password.isWellFormed()) {
    return {
      code: 'malformed_unicode',
      message: 'password contains invalid Unicode (an unpaired surrogate)',
    };
  }
  // NUL truncates the password in C-string based implementations (and some
  // bcrypt ports), so a hash could depend on only part of what was typed.
  if (password.includes('\0')) {
    return { code: 'nul_character', message: 'password must not contain NUL characters' };
  }
  return undefined;
}

function utf8ExceedsLimit(password: string): boolean {
  // Every UTF-16 code unit encodes to at least one byte, so a string with more
  // units than the limit cannot fit, and we avoid measuring megabyte inputs.
  if (password.length > MAX_PASSWORD_BYTES) return true;
  return Buffer.byteLength(password, 'utf8') > MAX_PASSWORD_BYTES;
}
