/** LDAP result codes used by the front-end (RFC 4511 §4.1.9, Appendix A). */
export const RESULT = {
  success: 0,
  operationsError: 1,
  protocolError: 2,
  timeLimitExceeded: 3,
  sizeLimitExceeded: 4,
  compareFalse: 5,
  compareTrue: 6,
  authMethodNotSupported: 7,
  adminLimitExceeded: 11,
  unavailableCriticalExtension: 12,
  confidentialityRequired: 13,
  constraintViolation: 19,
  noSuchObject: 32,
  invalidDNSyntax: 34,
  inappropriateAuthentication: 48,
  invalidCredentials: 49,
  insufficientAccessRights: 50,
  busy: 51,
  unavailable: 52,
  unwillingToPerform: 53,
  other: 80,
} as const;

/** RFC 4511 §4.4.1: the unsolicited Notice of Disconnection. */
export const NOTICE_OF_DISCONNECTION = '1.3.6.1.4.1.1466.20036';
/** RFC 4532: the "Who am I?" extended operation. */
export const WHO_AM_I = '1.3.6.1.4.1.4203.1.11.3';
/** RFC 4511 §4.14: StartTLS. */
export const START_TLS = '1.3.6.1.4.1.1466.20037';
/** RFC 3062: Password Modify. */
export const PASSWORD_MODIFY = '1.3.6.1.4.1.4203.1.11.1';

/** draft-behera-ldap-password-policy-10 §6.2: the error of a PasswordPolicyResponseValue. */
export const PPOLICY_ERROR = {
  passwordExpired: 0,
  accountLocked: 1,
  changeAfterReset: 2,
  passwordModNotAllowed: 3,
  mustSupplyOldPassword: 4,
  insufficientPasswordQuality: 5,
  passwordTooShort: 6,
  passwordTooYoung: 7,
  passwordInHistory: 8,
} as const;
