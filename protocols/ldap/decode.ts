/**
 * Our own decoder for SearchRequest (RFC 4511 §4.5.1), the one operation clients send by the
 * thousand. @ldapjs/messages decodes a search filter from BER, prints it as a string and parses the
 * string again: that costs most of a search's decoding, mangles extensible-match values (escaped
 * twice, or a refused message for a value with a parenthesis) and recurses as deep as the filter.
 * Here the filter is read once, straight from BER, into a plain tree, and decoding stops as soon
 * as it is deeper than `ldap.maxFilterDepth` or larger than `ldap.maxFilterElements` (the request
 * is then answered unwillingToPerform, without recursion ever going deeper than the limit).
 *
 * Every other operation is decoded by @ldapjs/messages, but its controls are decoded here
 * (splitRequest, decodeControls): the codec must never see them.
 */
import { sequence } from './ber.ts';
import type { RequestControl } from './paging.ts';
import { PAGED_RESULTS } from './paging.ts';

/** A search filter as decoded (RFC 4511 §4.5.1.7), values as UTF-8 text. */
export type RawFilter =
  | { type: 'and' | 'or'; children: RawFilter[] }
  | { type: 'not'; child: RawFilter }
  | { type: 'present'; attribute: string }
  | { type: 'equal' | 'approx' | 'greater' | 'less'; attribute: string; value: string }
  | { type: 'substrings'; attribute: string; initial?: string; any: string[]; final?: string }
  | { type: 'extensible'; rule?: string; attribute?: string; value: string; dnAttributes: boolean };

export interface DecodedSearch {
  messageId: number;
  base: string;
  scope: number;
  sizeLimit: number;
  timeLimit: number;
  typesOnly: boolean;
  /** Undefined when the filter is over a limit (`refused` says which). */
  filter: RawFilter | undefined;
  /** The filter's encoding: identifies it exactly (paged results cookies). */
  filterBytes: Buffer;
  refused?: string;
  attributes: string[];
  controls: RequestControl[];
}

/** The message is not a well-formed LDAPMessage: the connection gets protocolError. */
export class DecodeError extends Error {
  override readonly name = 'DecodeError';
}

interface Tlv {
  tag: number;
  start: number;
  end: number;
}

/** One BER element at `pos`, within `limit` (definite lengths only, RFC 4511 §5.1). */
function tlv(buf: Buffer, pos: number, limit: number): Tlv {
  if (pos + 2 > limit) throw new DecodeError('truncated element');
  const tag = buf[pos]!;
  if ((tag & 0x1f) === 0x1f) throw new DecodeError('multi-octet tags are not used by LDAP');
  const first = buf[pos + 1]!;
  let length = first;
  let start = pos + 2;
  if (first >= 0x80) {
    const octets = first & 0x7f;
    if (octets === 0) throw new DecodeError('indefinite length is not allowed (RFC 4511 §5.1)');
    if (octets > 4 || start + octets > limit) throw new DecodeError('bad length');
    length = 0;
    for (let i = 0; i < octets; i++) length = length * 256 + buf[start + i]!;
    start += octets;
  }
  const end = start + length;
  if (end > limit) throw new DecodeError('element longer than its container');
  return { tag, start, end };
}

function expect(buf: Buffer, pos: number, limit: number, tag: number, what: string): Tlv {
  const t = tlv(buf, pos, limit);
  if (t.tag !== tag) throw new DecodeError(`${what}: expected tag 0x${tag.toString(16)}, got 0x${t.tag.toString(16)}`);
  return t;
}

/** A non-negative INTEGER or ENUMERATED that fits in 31 bits (RFC 4511 maxInt). */
function uint(buf: Buffer, t: Tlv, what: string): number {
  const n = t.end - t.start;
  if (n < 1 || n > 5) throw new DecodeError(`${what}: bad integer`);
  if (buf[t.start]! & 0x80) throw new DecodeError(`${what}: negative`);
  let value = 0;
  for (let i = t.start; i < t.end; i++) value = value * 256 + buf[i]!;
  if (value > 0x7fffffff) throw new DecodeError(`${what}: larger than maxInt`);
  return value;
}

const text = (buf: Buffer, t: Tlv) => buf.toString('utf8', t.start, t.end);

/**
 * Decodes a framed message whose protocolOp is a SearchRequest ([APPLICATION 3]).
 * @throws DecodeError when it is malformed
 */
export function decodeSearchRequest(frame: Buffer, maxDepth: number, maxElements: number): DecodedSearch {
  const message = expect(frame, 0, frame.length, 0x30, 'LDAPMessage');
  if (message.end !== frame.length) throw new DecodeError('trailing bytes after the LDAPMessage');
  const id = expect(frame, message.start, message.end, 0x02, 'messageID');
  const messageId = uint(frame, id, 'messageID');
  const op = expect(frame, id.end, message.end, 0x63, 'SearchRequest');
  let pos = op.start;
  const next = (tag: number, what: string) => {
    const t = expect(frame, pos, op.end, tag, what);
    pos = t.end;
    return t;
  };
  const base = text(frame, next(0x04, 'baseObject'));
  const scope = uint(frame, next(0x0a, 'scope'), 'scope');
  if (scope > 2) throw new DecodeError('scope must be baseObject, singleLevel or wholeSubtree');
  const deref = uint(frame, next(0x0a, 'derefAliases'), 'derefAliases');
  if (deref > 3) throw new DecodeError('bad derefAliases');
  const sizeLimit = uint(frame, next(0x02, 'sizeLimit'), 'sizeLimit');
  const timeLimit = uint(frame, next(0x02, 'timeLimit'), 'timeLimit');
  const typesOnlyTlv = next(0x01, 'typesOnly');
  if (typesOnlyTlv.end - typesOnlyTlv.start !== 1) throw new DecodeError('typesOnly: bad boolean');
  const typesOnly = frame[typesOnlyTlv.start] !== 0;

  const filterTlv = tlv(frame, pos, op.end);
  const filterBytes = frame.subarray(pos, filterTlv.end);
  const counter = { elements: 0 };
  let filter: RawFilter | undefined;
  let refused: string | undefined;
  try {
    filter = decodeFilter(frame, pos, op.end, 1, maxDepth, maxElements, counter);
  } catch (err) {
    if (!(err instanceof FilterTooLarge)) throw err;
    refused = err.message;
  }
  pos = filterTlv.end;

  const attributes: string[] = [];
  const list = next(0x30, 'attributes');
  for (let p = list.start; p < list.end;) {
    const a = expect(frame, p, list.end, 0x04, 'attribute');
    attributes.push(text(frame, a));
    p = a.end;
  }
  if (pos !== op.end) throw new DecodeError('trailing bytes in SearchRequest');

  const controls = op.end < message.end ? decodeControls(frame, op.end, message.end) : [];
  return { messageId, base, scope, sizeLimit, timeLimit, typesOnly, filter, filterBytes, ...(refused ? { refused } : {}), attributes, controls };
}

/**
 * The `[0] Controls` of an LDAPMessage (RFC 4511 §4.1.11) from `pos` to `end`, which they must fill:
 * `SEQUENCE { controlType LDAPOID, criticality BOOLEAN DEFAULT FALSE, controlValue OCTET STRING
 * OPTIONAL }` each. A control's value is kept as it came (the paged results one parsed), whatever
 * its type: whether a control applies is decided per operation (controls.ts), never here.
 * @throws DecodeError when they are malformed
 */
export function decodeControls(frame: Buffer, pos: number, end: number): RequestControl[] {
  const controls: RequestControl[] = [];
  const all = expect(frame, pos, end, 0xa0, 'controls');
  if (all.end !== end) throw new DecodeError('trailing bytes after controls');
  for (let p = all.start; p < all.end;) {
    const c = expect(frame, p, all.end, 0x30, 'Control');
    p = c.end;
    const type = expect(frame, c.start, c.end, 0x04, 'controlType');
    let q = type.end;
    let criticality = false;
    let value: Buffer | undefined;
    if (q < c.end && frame[q] === 0x01) {
      const b = expect(frame, q, c.end, 0x01, 'criticality');
      if (b.end - b.start !== 1) throw new DecodeError('criticality: bad boolean');
      criticality = frame[b.start] !== 0;
      q = b.end;
    }
    if (q < c.end) {
      const v = expect(frame, q, c.end, 0x04, 'controlValue');
      value = frame.subarray(v.start, v.end);
      q = v.end;
    }
    if (q !== c.end) throw new DecodeError('trailing bytes in Control');
    const oid = text(frame, type);
    controls.push({ type: oid, criticality, ...(value ? { value: oid === PAGED_RESULTS ? pagedValue(value) : Buffer.from(value) } : {}) });
  }
  return controls;
}

/** A request other than a search, split into what @ldapjs/messages decodes and what it must not see. */
export interface SplitRequest {
  messageId: number;
  /** The protocolOp's tag. */
  op: number;
  /** The LDAPMessage without its controls: `SEQUENCE { messageID, protocolOp }`. */
  message: Buffer;
  controls: RequestControl[];
}

/**
 * Reads a framed LDAPMessage's envelope (RFC 4511 §4.1.1) and decodes its controls here, so that
 * @ldapjs/messages decodes only the protocolOp: its control codec throws on controls it knows with
 * a value it does not expect (the password policy request control, sent with no value by SSSD on
 * every bind), which would cost the client its connection.
 * @throws DecodeError when the envelope or the controls are malformed
 */
export function splitRequest(frame: Buffer): SplitRequest {
  const message = expect(frame, 0, frame.length, 0x30, 'LDAPMessage');
  if (message.end !== frame.length) throw new DecodeError('trailing bytes after the LDAPMessage');
  const id = expect(frame, message.start, message.end, 0x02, 'messageID');
  const messageId = uint(frame, id, 'messageID');
  const op = tlv(frame, id.end, message.end);
  if (op.end === message.end) return { messageId, op: op.tag, message: frame, controls: [] };
  const controls = decodeControls(frame, op.end, message.end);
  return { messageId, op: op.tag, message: sequence([frame.subarray(message.start, op.end)]), controls };
}

/** RFC 2696 §2: realSearchControlValue ::= SEQUENCE { size INTEGER, cookie OCTET STRING }; undefined when malformed. */
function pagedValue(value: Buffer): { size: number; cookie: Buffer } | undefined {
  try {
    const seq = expect(value, 0, value.length, 0x30, 'paged results value');
    const size = expect(value, seq.start, seq.end, 0x02, 'size');
    const cookie = expect(value, size.end, seq.end, 0x04, 'cookie');
    return { size: uint(value, size, 'size'), cookie: Buffer.from(value.subarray(cookie.start, cookie.end)) };
  } catch {
    return undefined;
  }
}

class FilterTooLarge extends Error {}

/** Recursion is bounded by `maxDepth` (checked before descending), so no filter can exhaust the stack. */
function decodeFilter(buf: Buffer, pos: number, limit: number, depth: number, maxDepth: number, maxElements: number, counter: { elements: number }): RawFilter {
  if (depth > maxDepth) throw new FilterTooLarge(`the filter is nested more than ${maxDepth} deep (ldap.maxFilterDepth)`);
  if (++counter.elements > maxElements) throw new FilterTooLarge(`the filter has more than ${maxElements} elements (ldap.maxFilterElements)`);
  const t = tlv(buf, pos, limit);
  const children = () => {
    const out: RawFilter[] = [];
    for (let p = t.start; p < t.end;) {
      const child = tlv(buf, p, t.end);
      out.push(decodeFilter(buf, p, t.end, depth + 1, maxDepth, maxElements, counter));
      p = child.end;
    }
    return out;
  };
  const assertion = (type: 'equal' | 'approx' | 'greater' | 'less'): RawFilter => {
    const attribute = expect(buf, t.start, t.end, 0x04, 'attributeDesc');
    const value = expect(buf, attribute.end, t.end, 0x04, 'assertionValue');
    if (value.end !== t.end) throw new DecodeError('trailing bytes in AttributeValueAssertion');
    return { type, attribute: text(buf, attribute), value: text(buf, value) };
  };
  switch (t.tag) {
    case 0xa0:
      return { type: 'and', children: children() };
    case 0xa1:
      return { type: 'or', children: children() };
    case 0xa2: {
      const inner = tlv(buf, t.start, t.end);
      if (inner.end !== t.end) throw new DecodeError('not: one filter expected');
      return { type: 'not', child: decodeFilter(buf, t.start, t.end, depth + 1, maxDepth, maxElements, counter) };
    }
    case 0xa3:
      return assertion('equal');
    case 0xa5:
      return assertion('greater');
    case 0xa6:
      return assertion('less');
    case 0xa8:
      return assertion('approx');
    case 0x87:
      return { type: 'present', attribute: text(buf, t) };
    case 0xa4: {
      const attribute = expect(buf, t.start, t.end, 0x04, 'substrings type');
      const list = expect(buf, attribute.end, t.end, 0x30, 'substrings');
      const out: Extract<RawFilter, { type: 'substrings' }> = { type: 'substrings', attribute: text(buf, attribute), any: [] };
      for (let p = list.start; p < list.end;) {
        const s = tlv(buf, p, list.end);
        const value = text(buf, s);
        // RFC 4511 §4.5.1.7.2: at most one initial (first) and one final (last).
        if (s.tag === 0x80 && p === list.start) out.initial = value;
        else if (s.tag === 0x81) out.any.push(value);
        else if (s.tag === 0x82 && s.end === list.end) out.final = value;
        else throw new DecodeError('bad substring');
        p = s.end;
      }
      if (list.start === list.end) throw new DecodeError('substrings: at least one substring');
      return out;
    }
    case 0xa9: {
      const out: Extract<RawFilter, { type: 'extensible' }> = { type: 'extensible', value: '', dnAttributes: false };
      let value = false;
      for (let p = t.start; p < t.end;) {
        const f = tlv(buf, p, t.end);
        if (f.tag === 0x81) out.rule = text(buf, f);
        else if (f.tag === 0x82) out.attribute = text(buf, f);
        else if (f.tag === 0x83) {
          out.value = text(buf, f);
          value = true;
        } else if (f.tag === 0x84) out.dnAttributes = buf[f.start] !== 0;
        else throw new DecodeError('bad extensible match field');
        p = f.end;
      }
      if (!value) throw new DecodeError('extensible match without matchValue');
      return out;
    }
    default:
      throw new DecodeError(`unknown filter choice 0x${t.tag.toString(16)}`);
  }
}
