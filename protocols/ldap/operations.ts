/**
 * What each LDAP request does, once its connection (connection.ts) has decoded and queued it: bind
 * (bind.ts), search (search.ts) with entries written in batches, the extended operations (Who am
 * I?, Password Modify), compare, and the refusals (writes: the directory is read-only over LDAP).
 * StartTLS, unbind and abandon are the connection's own.
 */
import ldapMessages from '@ldapjs/messages';
import type { BindRequest, ExtensionRequest, LdapMessage, LdapResult } from '@ldapjs/messages';
import type { Core } from '../../src/core.ts';
import { BIND_RESPONSE, controlsOp, EXTENDED_RESPONSE, MessageBatch, passwordPolicyValue, responseMessage, resultOp, searchResultDoneOp, SUCCESS_DONE } from './ber.ts';
import { simpleBind } from './bind.ts';
import { PASSWORD_MODIFY, PPOLICY_ERROR, RESULT, WHO_AM_I } from './codes.ts';
import type { Connection, Incoming, SearchMessage } from './connection.ts';
import { criticalRefusal, PASSWORD_POLICY, wantsPasswordPolicy } from './controls.ts';
import type { DecodedSearch } from './decode.ts';
import { parseDn } from './dn.ts';
import { passwordModify, type PasswdModifyRequest } from './extended.ts';
import type { LdapOptions } from './options.ts';
import type { RequestControl } from './paging.ts';
import { SCOPE, type Searcher, type SearchSink } from './search.ts';

const { AddResponse, BindResponse, CompareResponse, DeleteResponse, ExtensionResponse, ModifyDnResponse, ModifyResponse, SearchResultDone } = ldapMessages;

/** Entries are written in batches of about this many bytes (one system call each, not one per entry). */
const BATCH_BYTES = 16 * 1024;

export class Operations {
  private readonly core: Core;
  private readonly options: LdapOptions;
  private readonly searcher: Searcher;

  constructor(core: Core, options: LdapOptions, searcher: Searcher) {
    this.core = core;
    this.options = options;
    this.searcher = searcher;
  }

  /**
   * Runs one request of `conn`; settles once its response is written (or the client took it), with
   * the response's result code (undefined when there is none). `controls` are the request's.
   */
  async handle(conn: Connection, message: Incoming, controls: readonly RequestControl[]): Promise<number | undefined> {
    if (conn.closing) return undefined;
    // RFC 4511 §4.1.11: a critical control that does not apply stops the operation before it starts.
    const refusal = criticalRefusal({ type: message.type, ...(message.type === 'ExtensionRequest' ? { requestName: (message as ExtensionRequest).requestName } : {}) }, controls);
    if (refusal) return answer(conn, responseFor(message, refusal.status, refusal.message), refusal.status);
    switch (message.type) {
      case 'BindRequest':
        return this.bind(conn, message as BindRequest, controls);
      case 'SearchRequest':
        return this.search(conn, message.messageId, (message as SearchMessage).search);
      case 'ExtensionRequest':
        return this.extended(conn, message as ExtensionRequest, controls);
      case 'CompareRequest':
        return answer(conn, new CompareResponse({ messageId: message.messageId, status: RESULT.unwillingToPerform, diagnosticMessage: 'compare is not supported yet' }), RESULT.unwillingToPerform);
      default:
        return answer(conn, responseFor(message, RESULT.insufficientAccessRights, 'the directory is read-only over LDAP: change it through the admin API (/api/v1) or the gatehouse CLI'), RESULT.insufficientAccessRights);
    }
  }

  private async bind(conn: Connection, req: BindRequest, controls: readonly RequestControl[]): Promise<number> {
    const messageId = req.messageId;
    // draft-behera-ldap-password-policy-10 §6.2: asked for, the response control comes with every bind response.
    const ppolicy = wantsPasswordPolicy(controls);
    const respond = async (status: number, diagnosticMessage = '', error?: number) => {
      await conn.write(responseMessage(messageId, resultOp(BIND_RESPONSE, status, '', diagnosticMessage), ppolicy ? [{ type: PASSWORD_POLICY, value: passwordPolicyValue(error) }] : []));
      return status;
    };
    // RFC 4511 §4.2.1: a bind starts by dropping the previous authentication.
    conn.bound = undefined;
    // RFC 4513 §5.1.3: a server may refuse name/password binds without confidentiality protection.
    if (this.options.requireTls && !conn.secure) return respond(RESULT.confidentialityRequired, 'TLS is required: use StartTLS or LDAPS before binding');
    if (req.version !== 3) return respond(RESULT.protocolError, 'only LDAPv3 is supported');
    const outcome = await simpleBind(this.core, this.options, String(req.name ?? ''), String(req.credentials ?? ''), { clientIp: conn.ip, requestId: `ldap-${conn.id}-${messageId}` });
    if ('bound' in outcome && outcome.bound) conn.bound = outcome.bound;
    if (!('message' in outcome)) return respond(outcome.status);
    return respond(outcome.status, outcome.message, outcome.locked ? PPOLICY_ERROR.accountLocked : undefined);
  }

  private async search(conn: Connection, messageId: number, req: DecodedSearch): Promise<number | undefined> {
    const base = baseOf(req.base);
    // The root DSE stays readable in clear: clients read it to learn that StartTLS is offered.
    if (this.options.requireTls && !conn.secure && !(base?.length === 0 && req.scope === SCOPE.base)) {
      return answer(conn, new SearchResultDone({ messageId, status: RESULT.confidentialityRequired, diagnosticMessage: 'TLS is required: use StartTLS or LDAPS' }), RESULT.confidentialityRequired);
    }
    // Entries go out in batches; a client that does not keep up makes the search wait (Connection.write).
    const batch = new MessageBatch(messageId);
    const flush = (): Promise<void> | undefined => (batch.empty ? undefined : conn.write(batch.take()));
    const sink: SearchSink = {
      send(_entry, encode) {
        if (conn.closing) return undefined;
        batch.add(encode());
        return batch.bytes >= BATCH_BYTES ? flush() : undefined;
      },
    };
    const result = await this.searcher.stream(conn.bound, {
      base,
      scope: req.scope,
      filter: req.filter ?? { refused: req.refused ?? 'filter refused' },
      filterKey: req.filterBytes,
      attributes: req.attributes,
      sizeLimit: req.sizeLimit,
      timeLimit: req.timeLimit,
      typesOnly: req.typesOnly,
      controls: req.controls,
    }, sink);
    // The SearchResultDone, with its response controls (paging) when it has any.
    const done = result.status === RESULT.success && !result.message && !result.matchedDN ? SUCCESS_DONE : searchResultDoneOp(result.status, result.matchedDN, result.message);
    batch.add(done, result.controls ? controlsOp(result.controls) : undefined);
    await flush();
    return result.status;
  }

  private async extended(conn: Connection, req: ExtensionRequest, controls: readonly RequestControl[]): Promise<number | undefined> {
    const messageId = req.messageId;
    if (req.requestName === WHO_AM_I) {
      // RFC 4532 §2.2: "dn:<DN>" for a bound user, an empty authzId for anonymous.
      return answer(conn, new ExtensionResponse({ messageId, status: RESULT.success, responseValue: conn.bound ? `dn:${conn.bound.dn}` : '' }), RESULT.success);
    }
    if (req.requestName === PASSWORD_MODIFY) {
      const value = typeof req.requestValue === 'object' && req.requestValue !== null ? (req.requestValue as PasswdModifyRequest) : undefined;
      const outcome = await passwordModify(this.core, conn.bound, conn.secure, conn.ip, value);
      // RFC 3062 §2: no responseValue, as no password is ever generated. draft-behera §6.2: the
      // password policy response control when asked for, with the policy's objection if any.
      const ppolicy = wantsPasswordPolicy(controls) ? [{ type: PASSWORD_POLICY, value: passwordPolicyValue(outcome.ppolicy) }] : [];
      await conn.write(responseMessage(messageId, resultOp(EXTENDED_RESPONSE, outcome.status, '', outcome.message), ppolicy));
      return outcome.status;
    }
    // RFC 4511 §4.12: an unrecognized requestName gets protocolError, without response name.
    return answer(conn, new ExtensionResponse({ messageId, status: RESULT.protocolError, diagnosticMessage: `unsupported extended operation ${req.requestName}` }), RESULT.protocolError);
  }
}

/** Writes `response` (if any) and settles, once the client took it, with `status`. */
async function answer(conn: Connection, response: LdapMessage | undefined, status: number): Promise<number | undefined> {
  if (!response) return undefined;
  await conn.send(response);
  return status;
}

type ResultClass = new (options: { messageId: number; status?: number; diagnosticMessage?: string; matchedDN?: string }) => LdapResult;

const WRITE_RESPONSES: Record<string, ResultClass> = {
  AddRequest: AddResponse,
  ModifyRequest: ModifyResponse,
  DeleteRequest: DeleteResponse,
  ModifyDnRequest: ModifyDnResponse,
};

/** The response matching a request type, for refusals (busy, errors, writes). */
export function responseFor(message: { type: string; messageId: number }, status: number, diagnosticMessage: string): LdapMessage | undefined {
  const messageId = message.messageId;
  const Write = WRITE_RESPONSES[message.type];
  if (Write) return new Write({ messageId, status, diagnosticMessage });
  switch (message.type) {
    case 'BindRequest':
      return new BindResponse({ messageId, status, diagnosticMessage });
    case 'SearchRequest':
      return new SearchResultDone({ messageId, status, diagnosticMessage });
    case 'CompareRequest':
      return new CompareResponse({ messageId, status, diagnosticMessage });
    case 'ExtensionRequest':
      return new ExtensionResponse({ messageId, status, diagnosticMessage });
    default:
      return undefined;
  }
}

/** Base DNs repeat (ou=people,…): parsed once, within a bounded cache. */
const bases = new Map<string, string[] | undefined>();
const BASES_KEPT = 1024;

function baseOf(dn: string): string[] | undefined {
  if (bases.has(dn)) return bases.get(dn);
  const rdns = parseDn(dn);
  if (bases.size >= BASES_KEPT) bases.clear();
  bases.set(dn, rdns);
  return rdns;
}
