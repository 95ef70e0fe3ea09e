/**
 * Minimal declarations for the parts of ldapjs's codec packages the LDAP front-end uses (they ship
 * no TypeScript types). Only what is called here is declared.
 */
declare module '@ldapjs/asn1' {
  export class BerReader {
    constructor(buffer: Buffer);
    readonly buffer: Buffer;
  }
}

declare module '@ldapjs/dn' {
  export class RDN {
    keys(): IterableIterator<string>;
    getValue(name: string): string | undefined;
  }
  export class DN {
    static fromString(dn: string): DN;
    readonly length: number;
    rdnAt(index: number): RDN;
    toString(): string;
  }
}

declare module '@ldapjs/filter' {
  /** A parsed search filter (RFC 4511 §4.5.1.7); `type` names the kind. */
  export interface FilterNode {
    readonly type: string;
    readonly attribute?: string;
    readonly value?: string;
    readonly filters?: FilterNode[];
    readonly filter?: FilterNode;
    readonly subInitial?: string | null;
    readonly subAny?: string[];
    readonly subFinal?: string | null;
    /** ExtensibleFilter: the matching rule (OID or name) and the `:dn:` flag. */
    readonly matchingRule?: string;
    readonly dnAttributes?: boolean;
    toString(): string;
  }
  export function parseString(filter: string): FilterNode;
}

declare module '@ldapjs/messages' {
  import type { BerReader } from '@ldapjs/asn1';
  import type { DN } from '@ldapjs/dn';
  import type { FilterNode } from '@ldapjs/filter';

  export class LdapMessage {
    static parse(reader: BerReader): LdapMessage;
    readonly messageId: number;
    readonly protocolOp: number;
    readonly type: string;
    /** Request controls, decoded by @ldapjs/controls. */
    readonly controls: Array<{ type: string; criticality: boolean; value?: unknown }>;
    toBer(): BerReader;
  }
  interface ResultOptions {
    messageId: number;
    status?: number;
    matchedDN?: string;
    diagnosticMessage?: string;
    controls?: import('@ldapjs/controls').Control[];
  }
  export class LdapResult extends LdapMessage {
    constructor(options: ResultOptions);
  }
  export class BindRequest extends LdapMessage {
    readonly name: string;
    readonly credentials: string;
    readonly version: number;
    readonly authentication: string;
  }
  export class SearchRequest extends LdapMessage {
    constructor(options: { messageId: number; baseObject?: string; scope?: 'base' | 'one' | 'sub'; filter?: string; attributes?: string[] });
    readonly baseObject: DN;
    readonly scope: number;
    readonly filter: FilterNode;
    readonly attributes: string[];
    readonly sizeLimit: number;
    /** Seconds; 0 = no limit asked for. */
    readonly timeLimit: number;
    readonly typesOnly: boolean;
  }
  export class ExtensionRequest extends LdapMessage {
    readonly requestName: string;
    readonly requestValue: unknown;
  }
  export class CompareRequest extends LdapMessage {}
  export class BindResponse extends LdapResult {}
  export class SearchResultDone extends LdapResult {}
  export class AddResponse extends LdapResult {}
  export class ModifyResponse extends LdapResult {}
  export class DeleteResponse extends LdapResult {}
  export class ModifyDnResponse extends LdapResult {}
  export class CompareResponse extends LdapResult {}
  export class ExtensionResponse extends LdapResult {
    constructor(options: ResultOptions & { responseName?: string; responseValue?: string });
  }
  export class SearchResultEntry extends LdapMessage {
    constructor(options: { messageId: number; objectName: string; attributes: Array<{ type: string; values: string[] }> });
  }
  /**
   * The package is CommonJS and Node cannot see all of its named exports from ESM: import the
   * default export and take the classes from it.
   */
  const messages: {
    LdapMessage: typeof LdapMessage;
    SearchRequest: typeof SearchRequest;
    BindResponse: typeof BindResponse;
    SearchResultEntry: typeof SearchResultEntry;
    SearchResultDone: typeof SearchResultDone;
    ExtensionResponse: typeof ExtensionResponse;
    AddResponse: typeof AddResponse;
    ModifyResponse: typeof ModifyResponse;
    DeleteResponse: typeof DeleteResponse;
    ModifyDnResponse: typeof ModifyDnResponse;
    CompareResponse: typeof CompareResponse;
  };
  export default messages;
}
