/**
 * Strict inbound validation of the SAML messages a service provider sends to Gatehouse's IdP
 * (issue 12, items 5 and 6): AuthnRequest, LogoutRequest and LogoutResponse, on the HTTP-Redirect
 * and HTTP-POST bindings. samlify checks what an SP needs; an IdP needs more, and this module does
 * it before samlify or the front-end sees anything. README.md, "Inbound validation", explains each
 * check and why.
 *
 * The API:
 *
 *   decodeRedirect(rawQuery, param) → InboundMessage     the query as received (raw, still URL-encoded)
 *   decodePost(form, param)         → InboundMessage     the decoded form fields
 *   readAuthnRequest(msg, opts)     → Promise<AuthnRequest>
 *   readLogoutRequest(msg, opts)    → Promise<LogoutRequest>   (`signed` says whether it was signed)
 *   readLogoutResponse(msg, opts)   → Promise<LogoutResponse>
 *
 * Every refusal is a SamlRequestError with a distinct `code`, a `detail` safe to show and audit,
 * the SP's entityID once it is known, and `canRespond`: whether a SAML error response to the SP's
 * registered (default) ACS is allowed — false whenever the message cannot be trusted to come from
 * that SP, and always for an ACS problem (never a POST to a URL that is not registered). Nothing
 * else is ever thrown for bad input: a malformed message is a refusal, never a crash.
 *
 * The order matters: cheap size and markup checks first; the Issuer is only used to find the
 * registered certificates; the signature is verified before any field is trusted, and the fields
 * are then read from the verified element only; the schema (a shared worker) only sees messages
 * from a registered SP, signed when they must be; the message ID is marked used last, so that a
 * forged copy cannot burn a genuine request's ID.
 */
import { inflateRawSync } from 'node:zlib';
import type { ReasonCode } from '../../src/reasons.ts';
import { NS, XmlRefusal, attr, childrenNamed, descendants, elementChildren, hasElementChild, is, parseStrict, refuseDangerousMarkup, textOf, type Document, type Element } from './inbound-xml.ts';
import { SignatureRefusal, verifyEnvelopedSignature, verifyQuerySignature, type QuerySignature, type SignatureRefusalCode } from './inbound-signature.ts';
import { SchemaValidationError, type SchemaValidator } from './xml-schema.ts';

export type SamlBinding = 'redirect' | 'post';

/** What the front-end knows about a registered SP, from its registration only. */
export interface SpTrust {
  entityId: string;
  /** PEM certificates registered for the SP's signatures (registration only — never a KeyInfo certificate). */
  signingCertificates: string[];
  /** Registered assertion consumer services. */
  acs: Array<{ url: string; index: number; binding: 'post'; isDefault?: boolean }>;
  slo?: { url: string; binding: SamlBinding; responseUrl?: string };
  requireSignedRequests: boolean;
}

export interface InboundOptions {
  /** Finds a registered SP by entityID (Issuer). */
  spByEntityId(entityId: string): Promise<SpTrust | undefined>;
  /** Our endpoint URL the message must be addressed to (Destination), for this binding. */
  destination: string;
  /** Allowed clock skew for IssueInstant, seconds. */
  skewSeconds: number;
  /**
   * How long after its IssueInstant a message is still accepted, seconds, on top of the skew
   * (default 0: IssueInstant within ±skewSeconds of now).
   */
  lifetimeSeconds?: number;
  /** Marks a message ID used; resolves false when it was already used (replay). Backed by core.kv by the caller. */
  firstUse(spEntityId: string, id: string, ttlSeconds: number): Promise<boolean>;
  /** When given, the message is validated against the SAML 2.0 protocol schema (xml-schema.ts). */
  schema?: SchemaValidator;
  now?: () => number;
}

/** A message as it came off the wire, decoded but not yet checked. */
export interface InboundMessage {
  binding: SamlBinding;
  param: 'SAMLRequest' | 'SAMLResponse';
  /** The XML text (UTF-8 decoded, inflated for HTTP-Redirect). */
  xml: string;
  /** RelayState as received (decoded from the query or form), unchecked. */
  relayState?: string;
  /** HTTP-Redirect only: the query signature, when SigAlg and Signature were given. */
  querySignature?: QuerySignature;
}

export interface AuthnRequest {
  id: string;
  issuer: string;
  sp: SpTrust;
  /** IssueInstant, epoch milliseconds. */
  issueInstant: number;
  /** The resolved, registered ACS the response goes to. */
  acs: { url: string; binding: 'post'; index?: number };
  forceAuthn: boolean;
  isPassive: boolean;
  nameIdFormat?: string;
  allowCreate?: boolean;
  spNameQualifier?: string;
  requestedAuthnContext?: { comparison: 'exact' | 'minimum' | 'maximum' | 'better'; classRefs: string[] };
  /** Echo as is: at most 80 bytes, never used as a redirect target. */
  relayState?: string;
  /** Whether a signature (query or XML) was verified with a registered certificate. */
  signed: boolean;
  binding: SamlBinding;
}

export interface LogoutRequest {
  id: string;
  issuer: string;
  sp: SpTrust;
  issueInstant: number;
  nameId: { value: string; format?: string; nameQualifier?: string; spNameQualifier?: string };
  sessionIndexes: string[];
  /** NotOnOrAfter, epoch milliseconds, when given (already checked not to have passed). */
  notOnOrAfter?: number;
  reason?: string;
  relayState?: string;
  /** Whether it was signed: when false, the caller accepts it only if it matches the session. */
  signed: boolean;
  binding: SamlBinding;
}

export interface LogoutResponse {
  id: string;
  inResponseTo?: string;
  issuer: string;
  sp: SpTrust;
  issueInstant: number;
  status: { code: string; subCode?: string; message?: string };
  /** Top-level status is urn:oasis:names:tc:SAML:2.0:status:Success. */
  success: boolean;
  relayState?: string;
  signed: boolean;
  binding: SamlBinding;
}

export type SamlRequestErrorCode =
  | 'missing_message'
  | 'duplicate_parameter'
  | 'malformed_encoding'
  | 'too_large'
  | 'inflate_failed'
  | 'bad_encoding'
  | 'doctype'
  | 'malformed_xml'
  | 'schema_invalid'
  | 'schema_unavailable'
  | 'unexpected_message'
  | 'bad_version'
  | 'bad_id'
  | 'malformed_field'
  | 'missing_issuer'
  | 'unknown_issuer'
  | 'relay_state_too_long'
  | 'unsigned'
  | 'embedded_signature_in_redirect'
  | 'missing_destination'
  | 'wrong_destination'
  | 'bad_issue_instant'
  | 'stale_issue_instant'
  | 'future_issue_instant'
  | 'expired'
  | 'replayed_id'
  | 'unknown_acs'
  | 'ambiguous_acs'
  | 'unsupported_binding'
  | 'subject_not_supported'
  | 'unsupported_name_id'
  | SignatureRefusalCode;

/** The reason-catalogue code an audit event gives for each refusal (src/reasons.ts). */
export function reasonFor(code: SamlRequestErrorCode): ReasonCode {
  if (code === 'replayed_id') return 'saml_replayed_request';
  if (SIGNATURE_CODES.has(code) || code === 'unsigned' || code === 'embedded_signature_in_redirect') return 'saml_invalid_signature';
  return 'saml_invalid_request';
}

const SIGNATURE_CODES = new Set<SamlRequestErrorCode>([
  'weak_algorithm',
  'unsupported_algorithm',
  'signature_invalid',
  'signature_count',
  'signature_placement',
  'reference_count',
  'reference_mismatch',
  'duplicate_id',
  'unsupported_transform',
  'no_registered_certificate',
]);

/** A refused inbound SAML message. */
export class SamlRequestError extends Error {
  readonly code: SamlRequestErrorCode;
  readonly status = 400 as const;
  /** Safe to show and audit: says which check failed, never echoes more than a short excerpt. */
  readonly detail: string;
  /** The SP's entityID, once the Issuer was found registered. */
  readonly sp?: string;
  /** Whether a SAML error response to the SP's registered ACS is allowed. */
  readonly canRespond: boolean;
  /** The reason code for the audit event (src/reasons.ts). */
  readonly reason: ReasonCode;
  constructor(code: SamlRequestErrorCode, detail: string, opts: { sp?: string; canRespond?: boolean } = {}) {
    super(`${code}: ${detail}`);
    this.name = 'SamlRequestError';
    this.code = code;
    this.detail = detail;
    if (opts.sp !== undefined) this.sp = opts.sp;
    this.canRespond = opts.canRespond ?? false;
    this.reason = reasonFor(code);
  }
}

// ---- Limits ----

/** HTTP-POST: the base64 of the message, at most (SAML messages from an SP are a few KiB). */
export const MAX_POST_BASE64 = 256 * 1024;
/** HTTP-Redirect: the raw query string, at most. */
export const MAX_QUERY = 128 * 1024;
/** HTTP-Redirect: the inflated message, at most; inflating stops there (a deflate bomb costs 64 KiB). */
export const MAX_INFLATED = 64 * 1024;
/** RelayState: SAML bindings §3.4.3 and §3.5.3, "MUST NOT exceed 80 bytes in length". */
export const MAX_RELAY_STATE_BYTES = 80;
/** An ID is a key in the TTL store: bounded. */
const MAX_ID_LENGTH = 256;

const STATUS_SUCCESS = 'urn:oasis:names:tc:SAML:2.0:status:Success';
const BINDING_POST = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST';
const NAMEID_ENTITY = 'urn:oasis:names:tc:SAML:2.0:nameid-format:entity';

// ---- Decoding ----

/** Strict base64 (RFC 4648 §4; white space tolerated in POST forms, as line-wrapping encoders add it). */
function decodeBase64(value: string, what: string): Buffer {
  const compact = value.replace(/[ \t\r\n]+/g, '');
  if (compact.length === 0 || compact.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(compact)) {
    throw new SamlRequestError('malformed_encoding', `${what} is not valid base64`);
  }
  return Buffer.from(compact, 'base64');
}

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

function decodeUtf8(bytes: Buffer): string {
  try {
    return UTF8.decode(bytes);
  } catch {
    throw new SamlRequestError('bad_encoding', 'the message is not UTF-8 text');
  }
}

/** application/x-www-form-urlencoded value decoding ('+' is a space), refusing bad escapes. */
function formDecode(raw: string, what: string): string {
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' '));
  } catch {
    throw new SamlRequestError('malformed_encoding', `${what} is not correctly URL-encoded`);
  }
}

/** Raw DEFLATE data inflated, stopping at MAX_INFLATED bytes (zlib checks the limit chunk by chunk). */
function inflateCapped(deflated: Buffer, param: string): Buffer {
  try {
    return inflateRawSync(deflated, { maxOutputLength: MAX_INFLATED });
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw new SamlRequestError('too_large', `the inflated message is over ${MAX_INFLATED} bytes`);
    throw new SamlRequestError('inflate_failed', `${param} is neither XML nor DEFLATE-compressed data (SAML bindings §3.4.4.1)`);
  }
}

const REDIRECT_PARAMS = new Set(['SAMLRequest', 'SAMLResponse', 'RelayState', 'SigAlg', 'Signature']);

/**
 * An HTTP-Redirect message (SAML bindings §3.4.4) from the raw query string (with or without its
 * leading `?`), as received: the raw, still URL-encoded parameter values are kept for the
 * signature (§3.4.4.1). The message is base64-decoded and inflated, inflating stopping at
 * MAX_INFLATED bytes.
 */
export function decodeRedirect(rawQuery: string, param: 'SAMLRequest' | 'SAMLResponse'): InboundMessage {
  const query = rawQuery.startsWith('?') ? rawQuery.slice(1) : rawQuery;
  if (query.length > MAX_QUERY) throw new SamlRequestError('too_large', `the query string is over ${MAX_QUERY} bytes`);
  const raw = new Map<string, string>();
  for (const part of query.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = formDecode(eq < 0 ? part : part.slice(0, eq), 'a parameter name');
    if (!REDIRECT_PARAMS.has(name)) continue;
    if (raw.has(name)) throw new SamlRequestError('duplicate_parameter', `${name} is given more than once`);
    raw.set(name, eq < 0 ? '' : part.slice(eq + 1));
  }
  const other = param === 'SAMLRequest' ? 'SAMLResponse' : 'SAMLRequest';
  if (raw.has(other)) throw new SamlRequestError('duplicate_parameter', `both SAMLRequest and SAMLResponse are given`);
  const rawMessage = raw.get(param);
  if (rawMessage === undefined || rawMessage === '') throw new SamlRequestError('missing_message', `no ${param} parameter`);
  const deflated = decodeBase64(formDecode(rawMessage, param), param);
  const msg: InboundMessage = { binding: 'redirect', param, xml: decodeUtf8(inflateCapped(deflated, param)) };
  const rawRelayState = raw.get('RelayState');
  if (rawRelayState !== undefined) msg.relayState = formDecode(rawRelayState, 'RelayState');
  const rawSigAlg = raw.get('SigAlg');
  const rawSignature = raw.get('Signature');
  if ((rawSigAlg === undefined) !== (rawSignature === undefined)) throw new SamlRequestError('malformed_encoding', 'SigAlg and Signature must be given together');
  if (rawSigAlg !== undefined && rawSignature !== undefined) {
    msg.querySignature = {
      sigAlg: formDecode(rawSigAlg, 'SigAlg'),
      signature: decodeBase64(formDecode(rawSignature, 'Signature'), 'Signature'),
      signedOctets: `${param}=${rawMessage}${rawRelayState !== undefined ? `&RelayState=${rawRelayState}` : ''}&SigAlg=${rawSigAlg}`,
    };
  }
  return msg;
}

/** An HTTP-POST message (SAML bindings §3.5.4) from the decoded form fields. */
export function decodePost(form: Record<string, string | undefined>, param: 'SAMLRequest' | 'SAMLResponse'): InboundMessage {
  const value = form[param];
  if (typeof value !== 'string' || value === '') throw new SamlRequestError('missing_message', `no ${param} field`);
  if (value.length > MAX_POST_BASE64) throw new SamlRequestError('too_large', `${param} is over ${MAX_POST_BASE64} bytes`);
  let bytes = decodeBase64(value, param);
  // SAML bindings §3.5.4: HTTP-POST messages are not compressed. @node-saml/node-saml (passport-saml)
  // deflates them unless told not to, so data that does not start like XML is inflated, with the same
  // cap as HTTP-Redirect; what comes out goes through every check like any other message.
  if (!/^(\xEF\xBB\xBF)?[ \t\r\n]*</.test(bytes.subarray(0, 64).toString('latin1'))) bytes = inflateCapped(bytes, param);
  const msg: InboundMessage = { binding: 'post', param, xml: decodeUtf8(bytes) };
  const relayState = form.RelayState;
  if (typeof relayState === 'string') msg.relayState = relayState;
  return msg;
}

// ---- The common checks ----

interface Checked {
  /** The root element to read fields from: the verified one when signed. */
  root: Element;
  id: string;
  issuer: string;
  sp: SpTrust;
  issueInstant: number;
  signed: boolean;
}

type MessageName = 'AuthnRequest' | 'LogoutRequest' | 'LogoutResponse';

const ID_PATTERN = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?Z$/;

/** An xs:dateTime in UTC (SAML core §1.3.3: "with no time zone component", i.e. Z), epoch ms. */
function parseInstant(value: string | undefined, what: string, sp: string): number {
  const m = value === undefined ? null : DATE_TIME.exec(value);
  const t = m ? Date.parse(value!) : Number.NaN;
  if (!m || Number.isNaN(t)) throw new SamlRequestError('bad_issue_instant', `${what} is missing or not a UTC xs:dateTime`, { sp });
  return t;
}

/** xs:boolean (XML Schema Part 2 §3.2.2). */
function parseBoolean(value: string | undefined, what: string, sp: string): boolean | undefined {
  if (value === undefined) return undefined;
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw new SamlRequestError('malformed_field', `${what} is not a boolean`, { sp });
}

/** The text of a text-only element (no child elements). */
function textValue(el: Element, what: string, sp?: string): string {
  if (hasElementChild(el)) throw new SamlRequestError('malformed_field', `${what} must hold text only`, sp === undefined ? {} : { sp });
  return textOf(el);
}

/** The one `{ns}local` child of `el`, undefined when absent; refused when repeated. */
function oneChild(el: Element, ns: string, local: string, sp?: string): Element | undefined {
  const found = childrenNamed(el, ns, local);
  if (found.length > 1) throw new SamlRequestError('malformed_field', `more than one ${local}`, sp === undefined ? {} : { sp });
  return found[0];
}

/** The Issuer of a request or response (SAML core §3.2.1): required here, an entity name. */
function readIssuer(root: Element, sp?: string): string {
  const issuerEl = oneChild(root, NS.saml, 'Issuer', sp);
  if (!issuerEl || elementChildren(root)[0] !== issuerEl) throw new SamlRequestError('missing_issuer', 'the message has no Issuer as its first child', sp === undefined ? {} : { sp });
  const format = attr(issuerEl, 'Format');
  if (format !== undefined && format !== NAMEID_ENTITY) throw new SamlRequestError('malformed_field', 'the Issuer Format is not the entity format', sp === undefined ? {} : { sp });
  const issuer = textValue(issuerEl, 'Issuer', sp).trim();
  if (!issuer) throw new SamlRequestError('missing_issuer', 'the Issuer is empty', sp === undefined ? {} : { sp });
  return issuer;
}

async function checkCommon(msg: InboundMessage, opts: InboundOptions, expected: MessageName): Promise<Checked> {
  const expectedParam = expected === 'LogoutResponse' ? 'SAMLResponse' : 'SAMLRequest';
  if (msg.param !== expectedParam) throw new SamlRequestError('unexpected_message', `a ${expected} comes in ${expectedParam}, not ${msg.param}`);
  if (msg.relayState !== undefined && Buffer.byteLength(msg.relayState, 'utf8') > MAX_RELAY_STATE_BYTES) {
    throw new SamlRequestError('relay_state_too_long', `RelayState is over ${MAX_RELAY_STATE_BYTES} bytes (SAML bindings §3.4.3, §3.5.3)`);
  }
  if (msg.xml.length > (msg.binding === 'post' ? MAX_POST_BASE64 : MAX_INFLATED)) throw new SamlRequestError('too_large', 'the message is too large');

  // Markup no parser may see, then a strict parse.
  let doc: Document;
  try {
    refuseDangerousMarkup(msg.xml);
    doc = parseStrict(msg.xml);
  } catch (err) {
    if (err instanceof XmlRefusal) throw new SamlRequestError(err.kind, err.message);
    throw err;
  }
  const parsedRoot = doc.documentElement!;
  if (!is(parsedRoot, NS.samlp, expected)) {
    throw new SamlRequestError('unexpected_message', `expected a samlp:${expected}, got ${JSON.stringify(String(parsedRoot.localName ?? parsedRoot.tagName).slice(0, 40))}`);
  }

  // The Issuer of the document as parsed, only to find whose certificates to verify with.
  const claimedIssuer = readIssuer(parsedRoot);
  const sp = await opts.spByEntityId(claimedIssuer);
  if (!sp) throw new SamlRequestError('unknown_issuer', `no service provider is registered with entityID ${JSON.stringify(claimedIssuer.slice(0, 200))}`);
  const spId = sp.entityId;

  // The ID's form before anything uses it (xml-crypto puts a Reference's URI into an XPath).
  const parsedId = attr(parsedRoot, 'ID');
  if (!parsedId || parsedId.length > MAX_ID_LENGTH || !ID_PATTERN.test(parsedId)) throw new SamlRequestError('bad_id', 'the ID is missing or not an xs:ID', { sp: spId });

  // Signatures: the query signature on Redirect, the enveloped XML one on POST; never the other.
  let signed = false;
  let root = parsedRoot;
  try {
    if (msg.binding === 'redirect') {
      if (descendants(doc).some((el) => is(el, NS.ds, 'Signature'))) throw new SamlRequestError('embedded_signature_in_redirect', 'an HTTP-Redirect message must not carry an XML signature (SAML bindings §3.4.4.1)', { sp: spId });
      if (msg.querySignature) {
        verifyQuerySignature(msg.querySignature, sp.signingCertificates);
        signed = true;
      }
    } else {
      const result = verifyEnvelopedSignature(doc, msg.xml, sp.signingCertificates);
      if (result.signed) {
        signed = true;
        root = result.root;
      }
    }
  } catch (err) {
    if (err instanceof SignatureRefusal) throw new SamlRequestError(err.code, err.message, { sp: spId });
    throw err;
  }
  if (!signed && sp.requireSignedRequests) throw new SamlRequestError('unsigned', 'the service provider requires signed messages and this one is not signed', { sp: spId });

  // The schema (when configured) once the message is known to come from a registered SP, signed
  // when it must be: the worker's queue is shared, and only such messages may take a place in it.
  if (opts.schema) {
    try {
      await opts.schema.validate(msg.xml, 'protocol');
    } catch (err) {
      if (err instanceof SchemaValidationError) throw new SamlRequestError(err.kind === 'invalid' ? 'schema_invalid' : 'schema_unavailable', err.message, { sp: spId });
      throw err;
    }
  }

  // From here on, every field comes from `root`: the verified element when signed.
  if (readIssuer(root, spId) !== claimedIssuer) throw new SamlRequestError('signature_invalid', 'the signed Issuer differs', { sp: spId });
  if (attr(root, 'Version') !== '2.0') throw new SamlRequestError('bad_version', 'Version must be 2.0', { sp: spId });
  const id = attr(root, 'ID');
  if (id !== parsedId) throw new SamlRequestError('signature_invalid', 'the signed ID differs', { sp: spId });

  // SAML bindings §3.4.5.2 and §3.5.5.2: a signed message must say where it was sent, and it must be us.
  const destination = attr(root, 'Destination');
  if (destination === undefined) {
    if (signed) throw new SamlRequestError('missing_destination', 'a signed message must carry a Destination', { sp: spId });
  } else if (destination !== opts.destination) {
    throw new SamlRequestError('wrong_destination', `the Destination ${JSON.stringify(destination.slice(0, 200))} is not this endpoint`, { sp: spId });
  }

  const issueInstant = parseInstant(attr(root, 'IssueInstant'), 'IssueInstant', spId);
  const now = (opts.now ?? Date.now)();
  const skewMs = opts.skewSeconds * 1000;
  const lifetimeMs = (opts.lifetimeSeconds ?? 0) * 1000;
  if (issueInstant > now + skewMs) throw new SamlRequestError('future_issue_instant', `IssueInstant is more than ${opts.skewSeconds}s in the future`, { sp: spId });
  if (issueInstant < now - skewMs - lifetimeMs) throw new SamlRequestError('stale_issue_instant', `IssueInstant is more than ${opts.skewSeconds + (opts.lifetimeSeconds ?? 0)}s old`, { sp: spId });

  return { root, id, issuer: claimedIssuer, sp, issueInstant, signed };
}

/** Marks the ID used, last of all the checks (SAML profiles §4.1.4.5); refuses a replay. */
async function consumeId(checked: Checked, opts: InboundOptions): Promise<void> {
  // Accepted while issueInstant ∈ [now − skew − lifetime, now + skew]: remembered that long from now.
  const ttlSeconds = 2 * opts.skewSeconds + (opts.lifetimeSeconds ?? 0) + 1;
  if (!(await opts.firstUse(checked.sp.entityId, checked.id, ttlSeconds))) {
    throw new SamlRequestError('replayed_id', 'this message ID was used already', { sp: checked.sp.entityId });
  }
}

// ---- The messages ----

const COMPARISONS = new Set(['exact', 'minimum', 'maximum', 'better']);

/**
 * The ACS a response goes to (SAML core §3.4.1; profiles §4.1.4.1): an AssertionConsumerServiceURL
 * equal to a registered one, or a registered AssertionConsumerServiceIndex, or neither — the
 * default (isDefault, else the lowest index). Both given, or a binding other than HTTP-POST, is
 * refused. An unknown URL or index is never answered (canRespond false): that is how an assertion
 * would be delivered to an attacker.
 */
function resolveAcs(root: Element, sp: SpTrust): AuthnRequest['acs'] {
  const spId = sp.entityId;
  const url = attr(root, 'AssertionConsumerServiceURL');
  const indexText = attr(root, 'AssertionConsumerServiceIndex');
  const protocolBinding = attr(root, 'ProtocolBinding');
  if (url !== undefined && indexText !== undefined) throw new SamlRequestError('ambiguous_acs', 'AssertionConsumerServiceURL and AssertionConsumerServiceIndex are mutually exclusive', { sp: spId, canRespond: true });
  if (protocolBinding !== undefined && protocolBinding !== BINDING_POST) throw new SamlRequestError('unsupported_binding', 'only the HTTP-POST binding is supported for responses', { sp: spId, canRespond: true });
  if (url !== undefined) {
    const found = sp.acs.find((a) => a.url === url && a.binding === 'post');
    if (!found) throw new SamlRequestError('unknown_acs', `AssertionConsumerServiceURL ${JSON.stringify(url.slice(0, 200))} is not registered for this service provider`, { sp: spId });
    return { url: found.url, binding: 'post', index: found.index };
  }
  if (indexText !== undefined) {
    const index = /^[0-9]{1,5}$/.test(indexText) ? Number(indexText) : Number.NaN;
    const found = sp.acs.find((a) => a.index === index && a.binding === 'post');
    if (!found) throw new SamlRequestError('unknown_acs', `AssertionConsumerServiceIndex ${JSON.stringify(indexText.slice(0, 20))} is not registered for this service provider`, { sp: spId });
    return { url: found.url, binding: 'post', index: found.index };
  }
  const post = sp.acs.filter((a) => a.binding === 'post');
  const fallback = post.find((a) => a.isDefault) ?? [...post].sort((a, b) => a.index - b.index)[0];
  if (!fallback) throw new SamlRequestError('unknown_acs', 'the service provider has no registered HTTP-POST assertion consumer service', { sp: spId });
  return { url: fallback.url, binding: 'post', index: fallback.index };
}

/** An AuthnRequest (SAML core §3.4.1), checked; throws SamlRequestError. */
export async function readAuthnRequest(msg: InboundMessage, opts: InboundOptions): Promise<AuthnRequest> {
  const checked = await checkCommon(msg, opts, 'AuthnRequest');
  const { root, sp } = checked;
  const spId = sp.entityId;
  if (oneChild(root, NS.saml, 'Subject', spId)) {
    throw new SamlRequestError('subject_not_supported', 'an AuthnRequest naming its Subject is not supported', { sp: spId, canRespond: true });
  }
  const acs = resolveAcs(root, sp);
  const result: AuthnRequest = {
    id: checked.id,
    issuer: checked.issuer,
    sp,
    issueInstant: checked.issueInstant,
    acs,
    forceAuthn: parseBoolean(attr(root, 'ForceAuthn'), 'ForceAuthn', spId) ?? false,
    isPassive: parseBoolean(attr(root, 'IsPassive'), 'IsPassive', spId) ?? false,
    signed: checked.signed,
    binding: msg.binding,
  };
  const policy = oneChild(root, NS.samlp, 'NameIDPolicy', spId);
  if (policy) {
    const format = attr(policy, 'Format');
    if (format !== undefined) result.nameIdFormat = format;
    const allowCreate = parseBoolean(attr(policy, 'AllowCreate'), 'AllowCreate', spId);
    if (allowCreate !== undefined) result.allowCreate = allowCreate;
    const spNameQualifier = attr(policy, 'SPNameQualifier');
    if (spNameQualifier !== undefined) result.spNameQualifier = spNameQualifier;
  }
  const context = oneChild(root, NS.samlp, 'RequestedAuthnContext', spId);
  if (context) {
    const comparison = attr(context, 'Comparison') ?? 'exact';
    if (!COMPARISONS.has(comparison)) throw new SamlRequestError('malformed_field', 'RequestedAuthnContext Comparison is not exact, minimum, maximum or better', { sp: spId, canRespond: true });
    if (childrenNamed(context, NS.saml, 'AuthnContextDeclRef').length > 0) {
      throw new SamlRequestError('malformed_field', 'AuthnContextDeclRef is not supported (only AuthnContextClassRef)', { sp: spId, canRespond: true });
    }
    const classRefs = childrenNamed(context, NS.saml, 'AuthnContextClassRef').map((el) => textValue(el, 'AuthnContextClassRef', spId).trim());
    if (classRefs.length === 0 || classRefs.some((c) => !c)) throw new SamlRequestError('malformed_field', 'RequestedAuthnContext has no AuthnContextClassRef', { sp: spId, canRespond: true });
    result.requestedAuthnContext = { comparison: comparison as 'exact', classRefs };
  }
  if (msg.relayState !== undefined) result.relayState = msg.relayState;
  await consumeId(checked, opts);
  return result;
}

/** A LogoutRequest (SAML core §3.7.1), checked; `signed` tells the caller whether it was signed. */
export async function readLogoutRequest(msg: InboundMessage, opts: InboundOptions): Promise<LogoutRequest> {
  const checked = await checkCommon(msg, opts, 'LogoutRequest');
  const { root, sp } = checked;
  const spId = sp.entityId;
  if (oneChild(root, NS.saml, 'EncryptedID', spId) || oneChild(root, NS.saml, 'BaseID', spId)) {
    throw new SamlRequestError('unsupported_name_id', 'only a plain NameID is supported in a LogoutRequest', { sp: spId });
  }
  const nameIdEl = oneChild(root, NS.saml, 'NameID', spId);
  if (!nameIdEl) throw new SamlRequestError('malformed_field', 'the LogoutRequest has no NameID', { sp: spId });
  const value = textValue(nameIdEl, 'NameID', spId).trim();
  if (!value) throw new SamlRequestError('malformed_field', 'the NameID is empty', { sp: spId });
  const nameId: LogoutRequest['nameId'] = { value };
  for (const [key, name] of [['format', 'Format'], ['nameQualifier', 'NameQualifier'], ['spNameQualifier', 'SPNameQualifier']] as const) {
    const v = attr(nameIdEl, name);
    if (v !== undefined) nameId[key] = v;
  }
  const sessionIndexes = childrenNamed(root, NS.samlp, 'SessionIndex').map((el) => textValue(el, 'SessionIndex', spId).trim());
  const result: LogoutRequest = { id: checked.id, issuer: checked.issuer, sp, issueInstant: checked.issueInstant, nameId, sessionIndexes, signed: checked.signed, binding: msg.binding };
  const notOnOrAfterText = attr(root, 'NotOnOrAfter');
  if (notOnOrAfterText !== undefined) {
    const notOnOrAfter = parseInstant(notOnOrAfterText, 'NotOnOrAfter', spId);
    if ((opts.now ?? Date.now)() - opts.skewSeconds * 1000 >= notOnOrAfter) throw new SamlRequestError('expired', 'the LogoutRequest has expired (NotOnOrAfter)', { sp: spId });
    result.notOnOrAfter = notOnOrAfter;
  }
  const reason = attr(root, 'Reason');
  if (reason !== undefined) result.reason = reason;
  if (msg.relayState !== undefined) result.relayState = msg.relayState;
  await consumeId(checked, opts);
  return result;
}

/** A LogoutResponse (SAML core §3.7.2), checked; the caller matches InResponseTo with its pending logout. */
export async function readLogoutResponse(msg: InboundMessage, opts: InboundOptions): Promise<LogoutResponse> {
  const checked = await checkCommon(msg, opts, 'LogoutResponse');
  const { root, sp } = checked;
  const spId = sp.entityId;
  const statusEl = oneChild(root, NS.samlp, 'Status', spId);
  const codeEl = statusEl && oneChild(statusEl, NS.samlp, 'StatusCode', spId);
  const code = codeEl && attr(codeEl, 'Value');
  if (!statusEl || !codeEl || !code) throw new SamlRequestError('malformed_field', 'the LogoutResponse has no Status/StatusCode Value', { sp: spId });
  const status: LogoutResponse['status'] = { code };
  const subEl = oneChild(codeEl, NS.samlp, 'StatusCode', spId);
  const subCode = subEl && attr(subEl, 'Value');
  if (subCode) status.subCode = subCode;
  const messageEl = oneChild(statusEl, NS.samlp, 'StatusMessage', spId);
  if (messageEl) status.message = textValue(messageEl, 'StatusMessage', spId).slice(0, 500);
  const result: LogoutResponse = { id: checked.id, issuer: checked.issuer, sp, issueInstant: checked.issueInstant, status, success: code === STATUS_SUCCESS, signed: checked.signed, binding: msg.binding };
  const inResponseTo = attr(root, 'InResponseTo');
  if (inResponseTo !== undefined) {
    if (inResponseTo.length > MAX_ID_LENGTH || !ID_PATTERN.test(inResponseTo)) throw new SamlRequestError('malformed_field', 'InResponseTo is not an xs:NCName', { sp: spId });
    result.inResponseTo = inResponseTo;
  }
  if (msg.relayState !== undefined) result.relayState = msg.relayState;
  await consumeId(checked, opts);
  return result;
}
