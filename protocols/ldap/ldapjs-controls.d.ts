/**
 * Minimal declarations for @ldapjs/controls (it ships no TypeScript types): the request controls
 * @ldapjs/messages decodes, and the paged results control (RFC 2696) the tests decode responses with
 * (the server encodes its response controls itself, ber.ts). Kept apart from ldapjs.d.ts, which the
 * transport owns.
 */
declare module '@ldapjs/controls' {
  export class Control {
    readonly type: string;
    readonly criticality: boolean;
  }
  export class PagedResultsControl extends Control {
    static readonly OID: string;
    /** A Buffer value is an encoded realSearchControlValue, decoded here. */
    constructor(options?: { criticality?: boolean; value?: { size: number; cookie: Buffer } | Buffer });
    readonly value: { size: number; cookie: Buffer };
  }
  /** CommonJS: Node cannot see all its named exports from ESM; import the default export. */
  const controls: { Control: typeof Control; PagedResultsControl: typeof PagedResultsControl };
  export default controls;
}
