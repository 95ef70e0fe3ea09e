/**
 * The sign-in parameters, as a table: return_to must be a local path (every open-redirect trick
 * falls back to '/'), resource must be the portal or an application.
 */
import { describe, expect, it } from 'vitest';
import { browserName } from '../../protocols/web/portal.ts';
import { MAX_RETURN_TO, parseResource, safeCancel, safeReturnTo, signInQuery } from '../../protocols/web/params.ts';

describe('return_to', () => {
  it.each([
    ['/', '/'],
    ['/account', '/account'],
    ['/oidc/auth/abc?x=1&y=%2F#frag', '/oidc/auth/abc?x=1&y=%2F#frag'],
    ['/a/b/../c', '/a/b/../c'],
    ['/caf\u00e9', '/caf\u00e9'],
  ])('keeps the local path %j', (input, expected) => {
    expect(safeReturnTo(input)).toBe(expected);
  });

  it.each([
    ['scheme-relative', '//evil.example/'],
    ['backslash after slash', '/\\evil.example/'],
    ['backslash elsewhere', '/a\\b'],
    ['absolute https', 'https://evil.example/'],
    ['javascript', 'javascript:alert(1)'],
    ['data', 'data:text/html,<script>alert(1)</script>'],
    ['relative', 'account'],
    ['empty', ''],
    ['tab that a URL parser strips', '/\t/evil.example'],
    ['newline', '/\n/evil.example'],
    ['carriage return (header injection)', '/x\r\nSet-Cookie: a=b'],
    ['NUL', '/x\u0000'],
    ['DEL', '/x\u007f'],
    ['lone surrogate', '/x\ud800'],
    ['too long', `/${'a'.repeat(MAX_RETURN_TO)}`],
    ['not a string', ['/a', '/b']],
    ['undefined', undefined],
  ])('refuses %s', (_label, input) => {
    expect(safeReturnTo(input)).toBe('/');
  });

  it('round-trips through the query of another sign-in page', () => {
    const query = signInQuery({ returnTo: '/oidc/auth/x?a=1&b=2', resource: 'app:wiki', force: true });
    const parsed = new URLSearchParams(query);
    expect(safeReturnTo(parsed.get('return_to'))).toBe('/oidc/auth/x?a=1&b=2');
    expect(parsed.get('resource')).toBe('app:wiki');
    expect(parsed.get('force')).toBe('1');
  });
});

describe('resource', () => {
  it.each([
    [undefined, 'portal'],
    ['', 'portal'],
    ['portal', 'portal'],
    ['app:wiki', 'app:wiki'],
    ['app:aws.console-2', 'app:aws.console-2'],
  ])('accepts %j', (input, expected) => {
    expect(parseResource(input)).toBe(expected);
  });

  it.each([['admin'], ['ldap'], ['radius:vpn'], ['app:'], ['app:Wiki'], ['app:../x'], ['app:a b'], [['portal']], [`app:${'a'.repeat(200)}`]])('refuses %j', (input) => {
    expect(parseResource(input)).toBeUndefined();
  });
});

describe('browser names in the session list', () => {
  it.each([
    ['Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36', 'Chrome on Linux'],
    ['Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15', 'Safari on macOS'],
    ['Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0', 'Firefox on Windows'],
    ['Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36 Edg/126.0', 'Edge on Windows'],
    [undefined, 'Unknown'],
    ['curl/8.5.0', 'curl/8.5.0'],
  ])('%j → %s', (ua, expected) => {
    expect(browserName(ua)).toBe(expected);
  });
});

describe('cancel', () => {
  it('is a local path like return_to, and absent (not "/") when it is anything else', () => {
    expect(safeCancel('/oidc/interaction/abc/abort')).toBe('/oidc/interaction/abc/abort');
    for (const bad of [undefined, '', '/', '//evil.example/x', 'https://evil.example/', '/\\evil', 42]) expect(safeCancel(bad)).toBeUndefined();
    expect(signInQuery({ returnTo: '/x', resource: 'app:wiki', force: false, cancel: '/x/abort' })).toBe('return_to=%2Fx&resource=app%3Awiki&cancel=%2Fx%2Fabort');
  });
});
