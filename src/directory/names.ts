/**
 * The closed lists some of the directory model's enums are made of, without zod: the command line
 * offers them as choices when it builds its options, which `gatehouse --help` does for every
 * command, without loading the schemas (model.ts builds its enums from these).
 */
export const APPLICATION_TYPES = ['oidc', 'saml', 'generic'] as const;
export const DEVICE_PLATFORMS = ['macos', 'windows', 'linux', 'ios', 'android', 'chromeos', 'other'] as const;
export const PROTOCOLS = ['oidc', 'saml', 'ldap', 'radius', 'portal', 'admin'] as const;
