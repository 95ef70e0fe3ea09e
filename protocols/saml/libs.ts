/**
 * The XML libraries (samlify, @xmldom/xmldom), loaded untyped with the few shapes this
 * front-end uses typed here. Their own declaration files pull in TypeScript's DOM library
 * (`/// <reference lib="dom" />`), whose WebCrypto types clash with Node's everywhere else in the
 * project (src/devices/ca.ts, the PKI test helpers); loading them through require keeps the DOM
 * library out of the program. Each is loaded on first use: the CLI builds the configuration schema
 * (and checks SP settings) without loading the signing libraries.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** The part of a DOM node read here. */
export interface XmlNode {
  nodeType: number;
  localName: string | null;
  namespaceURI: string | null;
  firstChild: XmlNode | null;
  nextSibling: XmlNode | null;
  textContent: string | null;
  getAttribute(name: string): string | null;
}
export interface XmlDocument {
  documentElement: XmlNode | null;
}

interface XmlDom {
  DOMParser: new (options?: { errorHandler?: { warning?: (m: string) => void; error?: (m: string) => void; fatalError?: (m: string) => void } }) => { parseFromString(xml: string, type: string): XmlDocument };
}
export const xmldom = (): XmlDom => require('@xmldom/xmldom') as XmlDom;

/** samlify's entities, as far as the login response uses them. */
export interface SamlifyEntity {
  entitySetting: Record<string, unknown>;
}
export interface SamlifyIdp extends SamlifyEntity {
  createLoginResponse(
    sp: SamlifyEntity,
    requestInfo: Record<string, unknown>,
    binding: 'post',
    user: Record<string, unknown>,
    options: { customTagReplacement: (template: string) => { id: string; context: string }; encryptThenSign?: boolean },
  ): Promise<{ id: string; context: string; entityEndpoint: string; type: string }>;
}
interface Samlify {
  IdentityProvider(settings: Record<string, unknown>): SamlifyIdp;
  ServiceProvider(settings: Record<string, unknown>): SamlifyEntity;
}
export const samlify = (): Samlify => require('samlify') as Samlify;
