/**
 * Strict XML for inbound SAML messages: the one place a message's text becomes a DOM, and the DOM
 * helpers the checks read it with.
 *
 * Why not a plain `new DOMParser().parseFromString(xml)`: @xmldom/xmldom 0.8 recovers from most
 * errors (an unclosed tag, a duplicate attribute, text after the root) and only reports them to an
 * error handler, and it keeps whatever a DOCTYPE declares. A signature check over a document that two
 * parsers read differently is the root of most SAML wrapping attacks, so here every report is fatal
 * (warnings included), any DOCTYPE or ENTITY declaration is refused before the parser sees the text
 * (nothing is ever expanded or fetched: billion laughs, XXE), characters XML 1.0 forbids are refused
 * (§2.2), and only a comment, a processing instruction or white space may stand beside the root.
 *
 * Text values are read as ALL the text of an element (every text and CDATA node, in order), never
 * its first child: `admin@evil.com<!---->.example` is one value, the one an exclusive canonicalization
 * without comments signs (the NameID comment-injection attacks read only the first text node).
 */
import { createRequire } from 'node:module';

// @xmldom/xmldom's type declarations pull the DOM library into the whole program (`reference
// lib="dom"`), which clashes with Node's webcrypto types elsewhere: it is loaded untyped, and the
// little of the DOM used here is typed below.
const { DOMParser } = createRequire(import.meta.url)('@xmldom/xmldom') as {
  DOMParser: new (options: { locator: object; errorHandler: Record<'warning' | 'error' | 'fatalError', (message: string) => void> }) => {
    parseFromString(text: string, mimeType: string): Document;
  };
};

/** The DOM nodes read here (xmldom's, DOM Level 2 Core). */
export interface Node {
  readonly nodeType: number;
  readonly nodeValue: string | null;
  readonly firstChild: Node | null;
  readonly nextSibling: Node | null;
  readonly parentNode: Node | null;
}
export interface Attr {
  readonly name: string;
  readonly localName: string | null;
  readonly namespaceURI: string | null;
  readonly value: string;
}
export interface Element extends Node {
  readonly localName: string | null;
  readonly namespaceURI: string | null;
  readonly tagName: string;
  readonly attributes: { readonly length: number; item(index: number): Attr | null };
  getAttributeNode(name: string): Attr | null;
}
export interface Document extends Node {
  readonly documentElement: Element | null;
}

export const NS = {
  samlp: 'urn:oasis:names:tc:SAML:2.0:protocol',
  saml: 'urn:oasis:names:tc:SAML:2.0:assertion',
  ds: 'http://www.w3.org/2000/09/xmldsig#',
} as const;

// Node types (DOM Level 1).
const ELEMENT_NODE = 1;
const TEXT_NODE = 3;
const CDATA_SECTION_NODE = 4;
const PROCESSING_INSTRUCTION_NODE = 7;
const COMMENT_NODE = 8;
const DOCUMENT_TYPE_NODE = 10;

/** Why a text could not become a document; the caller turns it into its own refusal. */
export class XmlRefusal extends Error {
  readonly kind: 'doctype' | 'malformed_xml';
  constructor(kind: 'doctype' | 'malformed_xml', message: string) {
    super(message);
    this.kind = kind;
  }
}

/** How deeply elements may nest below the root. */
export const MAX_DEPTH = 64;

// XML 1.0 §2.2 Char, as a negated class: anything else is not allowed in a document at all.
const FORBIDDEN_CHAR = /[^\x09\x0A\x0D\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;
const CHAR_REFERENCE = /&#(x[0-9A-Fa-f]+|[0-9]+);/g;

/** Whether `code` is an XML 1.0 Char (§2.2). */
function isXmlChar(code: number): boolean {
  return code === 0x9 || code === 0xa || code === 0xd || (code >= 0x20 && code <= 0xd7ff) || (code >= 0xe000 && code <= 0xfffd) || (code >= 0x10000 && code <= 0x10ffff);
}

/**
 * Refuses what must never reach a parser: a document type declaration or an entity declaration (in
 * any case, anywhere: even inside a comment it is refused rather than reasoned about), a character
 * XML forbids, or a character reference to one.
 */
export function refuseDangerousMarkup(xml: string): void {
  if (/<!\s*(DOCTYPE|ENTITY)/i.test(xml)) throw new XmlRefusal('doctype', 'a DOCTYPE or ENTITY declaration is not allowed');
  if (FORBIDDEN_CHAR.test(xml)) throw new XmlRefusal('malformed_xml', 'a character that XML does not allow');
  for (const m of xml.matchAll(CHAR_REFERENCE)) {
    const digits = m[1]!;
    const code = digits[0] === 'x' ? Number.parseInt(digits.slice(1), 16) : Number.parseInt(digits, 10);
    if (!isXmlChar(code)) throw new XmlRefusal('malformed_xml', 'a character reference to a character that XML does not allow');
  }
  // The XML declaration, when present, may name UTF-8 only: the text was decoded as UTF-8.
  const decl = /^\s*<\?xml\b[^?]*\bencoding\s*=\s*["']([^"']*)["']/.exec(xml);
  if (decl && !/^utf-?8$/i.test(decl[1]!)) throw new XmlRefusal('malformed_xml', `encoding ${JSON.stringify(decl[1]!.slice(0, 20))} is not UTF-8`);
}

/**
 * Parses `xml` into a document, every parser report fatal. Returns the document; throws XmlRefusal.
 * The caller has run refuseDangerousMarkup first (parseStrict runs it again: it is cheap).
 */
export function parseStrict(xml: string): Document {
  refuseDangerousMarkup(xml);
  const fail = (message: string): never => {
    throw new XmlRefusal('malformed_xml', String(message).replace(/\s+/g, ' ').replace(/^\[xmldom \w+\] /, '').slice(0, 160));
  };
  let doc: Document;
  try {
    doc = new DOMParser({
      locator: {},
      errorHandler: { warning: fail, error: fail, fatalError: fail },
    }).parseFromString(xml, 'text/xml');
  } catch (err) {
    if (err instanceof XmlRefusal) throw err;
    // xmldom wraps a handler's throw in its own report, and may throw its own errors (hierarchy).
    throw new XmlRefusal('malformed_xml', (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ').replace(/^.*?\[xmldom \w+\] /, '').slice(0, 160));
  }
  const root = doc?.documentElement;
  if (!root) throw new XmlRefusal('malformed_xml', 'no root element');
  for (let n = doc.firstChild; n; n = n.nextSibling) {
    if (n === root || n.nodeType === COMMENT_NODE || n.nodeType === PROCESSING_INSTRUCTION_NODE) continue;
    if (n.nodeType === TEXT_NODE && /^[ \t\r\n]*$/.test(n.nodeValue ?? '')) continue;
    if (n.nodeType === DOCUMENT_TYPE_NODE) throw new XmlRefusal('doctype', 'a DOCTYPE declaration is not allowed');
    throw new XmlRefusal('malformed_xml', 'content outside the root element');
  }
  // SAML messages nest a dozen levels; deep nesting only serves to exhaust recursive code (the
  // canonicalization of a signature check is recursive).
  if (depth(root) > MAX_DEPTH) throw new XmlRefusal('malformed_xml', `elements nested more than ${MAX_DEPTH} deep`);
  return doc;
}

/** The element children of `el`, in order. */
export function elementChildren(el: Element): Element[] {
  const out: Element[] = [];
  for (let n = el.firstChild; n; n = n.nextSibling) if (n.nodeType === ELEMENT_NODE) out.push(n as Element);
  return out;
}

/**
 * Every node below `node` (not `node` itself), in document order, without recursion (the depth is
 * capped by parseStrict, but no walk here should depend on it).
 */
function* below(node: Node): Generator<Node> {
  let c = node.firstChild;
  while (c) {
    yield c;
    if (c.firstChild) {
      c = c.firstChild;
      continue;
    }
    while (c && !c.nextSibling) {
      c = c.parentNode;
      if (c === node) return;
    }
    c = c ? c.nextSibling : null;
  }
}

/** Every element below `node` (not `node` itself), in document order. */
export function descendants(node: Node): Element[] {
  const out: Element[] = [];
  for (const n of below(node)) if (n.nodeType === ELEMENT_NODE) out.push(n as Element);
  return out;
}

/** How deeply elements nest below `node`. */
function depth(node: Node): number {
  let max = 0;
  for (const n of below(node)) {
    if (n.nodeType !== ELEMENT_NODE) continue;
    let d = 0;
    for (let p: Node | null = n; p && p !== node; p = p.parentNode) d++;
    if (d > max) max = d;
    if (max > MAX_DEPTH) break;
  }
  return max;
}

/** Whether `el` is the element `{ns}local`. */
export function is(el: Element | null | undefined, ns: string, local: string): boolean {
  return !!el && el.namespaceURI === ns && el.localName === local;
}

/** The element children of `el` named `{ns}local`. */
export function childrenNamed(el: Element, ns: string, local: string): Element[] {
  return elementChildren(el).filter((c) => is(c, ns, local));
}

/** Whether `el` has an element child (a text-only value must not). */
export function hasElementChild(el: Element): boolean {
  return elementChildren(el).length > 0;
}

/**
 * All the text of `el`: every text and CDATA node below it, concatenated in document order (comments
 * and processing instructions dropped, as exclusive c14n without comments drops them from the
 * digest). Never `firstChild.nodeValue`.
 */
export function textOf(el: Element): string {
  let out = '';
  for (const n of below(el)) if (n.nodeType === TEXT_NODE || n.nodeType === CDATA_SECTION_NODE) out += n.nodeValue ?? '';
  return out;
}

/** The attribute `name` (no namespace) of `el`, or undefined when absent. */
export function attr(el: Element, name: string): string | undefined {
  const a = el.getAttributeNode(name);
  return a && !a.namespaceURI ? a.value : undefined;
}

/** Every attribute of every element of the document whose local name is ID, Id or id: [element, value]. */
export function idAttributes(doc: Document): Array<[Element, string]> {
  const out: Array<[Element, string]> = [];
  for (const el of [doc.documentElement!, ...descendants(doc.documentElement!)]) {
    const attrs = el.attributes;
    for (let i = 0; i < attrs.length; i++) {
      const a = attrs.item(i)!;
      const local = a.localName ?? a.name;
      if (local.toLowerCase() === 'id') out.push([el, a.value]);
    }
  }
  return out;
}
