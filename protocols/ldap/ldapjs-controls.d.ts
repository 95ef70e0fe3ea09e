/**
 * Minimal declarations for @ldapjs/controls (it ships no TypeScript types): only the paged results
 * control the search answers with (RFC 2696). Kept apart from ldapjs.d.ts, which the transport owns.
 */
declare module '@ldapjs/controls' {
  export class Control {
    readonly type: string;
    readonly criticality: boolean;
  }
  export class PagedResultsControl extends Control {
    static readonly OID: string;
    constructor(options?: { criticality?: boolean; value?: { size: number; cookie: Buffer } });
    readonly value: { size: number; cookie: Buffer };
  }
  /** CommonJS: Node cannot see all its named exports from ESM; import the default export. */
  const controls: { Control: typeof Control; PagedResultsControl: typeof PagedResultsControl };
  export default controls;
}
