/**
 * Attribute names and typed values from FreeRADIUS-format dictionary files (`dictionaries/`, written
 * for Gatehouse from the RFCs and vendor documentation; see its README for provenance). The codec
 * (codec.ts) works with numbers and octets; this module turns `Tunnel-Private-Group-Id:1 = "42"` or
 * `Fortinet-Group-Name = "vpn"` into attributes and back.
 *
 * Understood: `ATTRIBUTE name code type [flags]`, `VALUE attribute name number`, `VENDOR name id`,
 * `BEGIN-VENDOR name` / `END-VENDOR name`, `$INCLUDE file` (relative to the including file), `#`
 * comments. Flags: `has_tag` (RFC 2868 §3.1), `encrypt=1` (User-Password hiding, RFC 2865 §5.2),
 * `encrypt=2` (salted, RFC 2868 §3.5 / RFC 2548). Vendor attributes use the RFC 2865 §5.26 layout.
 *
 * API: `standardDictionary()` (the shipped files, loaded once), `loadDictionary(path)`,
 * `parseDictionary(entry, read)`; on a `Dictionary`: `attribute(name)`, `byCode(vendorId, code)`,
 * `encode(name, value, options)` → codec `Attribute`, `decode(packet, options)` → typed list,
 * `first(packet, name, options)` → one typed value.
 */
import { readFileSync } from 'node:fs';
import { isIPv4, isIPv6 } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ATTR,
  type Attribute,
  decodeVendorSpecific,
  encodeVendorSpecific,
  hideSalted,
  hideUserPassword,
  type Packet,
  RadiusDecodeError,
  unhideSalted,
  unhideUserPassword,
} from './codec.ts';

export const ATTRIBUTE_TYPES = ['string', 'octets', 'ipaddr', 'ipv6addr', 'ipv6prefix', 'ifid', 'integer', 'date', 'byte', 'short', 'integer64', 'ether'] as const;
export type AttributeType = (typeof ATTRIBUTE_TYPES)[number];

export interface AttributeDefinition {
  readonly name: string;
  /** 0 for the standard attributes. */
  readonly vendorId: number;
  readonly vendor?: string;
  readonly code: number;
  readonly type: AttributeType;
  readonly hasTag: boolean;
  /** 0 none, 1 User-Password hiding, 2 salted hiding. */
  readonly encrypt: 0 | 1 | 2;
  /** VALUE names → numbers and back. */
  readonly values: ReadonlyMap<string, number>;
  readonly valueNames: ReadonlyMap<number, string>;
}

/** A value as the dictionary types it: text and addresses as strings, numbers, 64-bit as bigint, octets as Buffer. */
export type AttributeValue = string | number | bigint | Buffer;

export interface DecodedAttribute {
  readonly name: string;
  readonly vendorId: number;
  readonly code: number;
  readonly tag?: number;
  readonly value: AttributeValue;
}

/** What hidden attributes need: the shared secret and the Request Authenticator. */
export interface HidingContext {
  readonly secret?: Buffer | string;
  readonly authenticator?: Buffer;
}

export class DictionaryError extends Error {
  override readonly name = 'DictionaryError';
}

interface MutableDefinition {
  name: string;
  vendorId: number;
  vendor?: string;
  code: number;
  type: AttributeType;
  hasTag: boolean;
  encrypt: 0 | 1 | 2;
  values: Map<string, number>;
  valueNames: Map<number, string>;
}

export class Dictionary {
  readonly #byName = new Map<string, MutableDefinition>();
  readonly #byCode = new Map<string, MutableDefinition>();
  readonly #vendors = new Map<string, number>();

  /** @internal used by the parser */
  define(definition: MutableDefinition): void {
    const lower = definition.name.toLowerCase();
    if (this.#byName.has(lower)) throw new DictionaryError(`attribute ${definition.name} defined twice`);
    this.#byName.set(lower, definition);
    this.#byCode.set(`${definition.vendorId}:${definition.code}`, definition);
  }

  /** @internal used by the parser */
  defineVendor(name: string, id: number): void {
    this.#vendors.set(name.toLowerCase(), id);
  }

  /** @internal used by the parser */
  definitionForValue(name: string): MutableDefinition | undefined {
    return this.#byName.get(name.toLowerCase());
  }

  vendorId(name: string): number | undefined {
    return this.#vendors.get(name.toLowerCase());
  }

  /** An attribute by name, case-insensitive (`Tunnel-Private-Group-Id`). */
  attribute(name: string): AttributeDefinition | undefined {
    return this.#byName.get(name.toLowerCase());
  }

  byCode(vendorId: number, code: number): AttributeDefinition | undefined {
    return this.#byCode.get(`${vendorId}:${code}`);
  }

  /** Every attribute defined, in definition order. */
  definitions(): AttributeDefinition[] {
    return [...this.#byName.values()];
  }

  /**
   * One attribute from its name and a value: a number or a VALUE name for integers, dotted quads and
   * IPv6 text for addresses, text or a Buffer for strings, a Buffer or hex (`0x...`) for octets.
   * A vendor attribute comes back wrapped in its Vendor-Specific attribute. Hidden attributes need
   * `secret` and the Request Authenticator (for a reply: the request's). Throws `DictionaryError`
   * on an unknown name or a value that does not fit the type.
   */
  encode(name: string, value: AttributeValue, options: HidingContext & { tag?: number } = {}): Attribute {
    const definition = this.attribute(name);
    if (!definition) throw new DictionaryError(`unknown RADIUS attribute ${name}`);
    let octets = encodeValue(definition, value);
    if (definition.encrypt !== 0) {
      if (options.secret === undefined || !options.authenticator) throw new DictionaryError(`${definition.name} is hidden with the secret and the Request Authenticator`);
      octets = definition.encrypt === 1 ? hideUserPassword(octets, options.secret, options.authenticator) : hideSalted(octets, options.secret, options.authenticator);
    }
    if (definition.hasTag) {
      const tag = options.tag ?? 0;
      if (!Number.isInteger(tag) || tag < 0 || tag > 0x1f) throw new DictionaryError(`${definition.name}: tag ${tag} outside 0-31 (RFC 2868 §3.1)`);
      // RFC 2868 §3.1: an integer's tag replaces its high octet; a string's is an octet before it
      // (0 means "no tag" and is then omitted for strings, kept for the salted Tunnel-Password).
      if (definition.type === 'integer') {
        octets = Buffer.from(octets);
        octets[0] = tag;
      } else if (tag !== 0 || definition.encrypt === 2) {
        octets = Buffer.concat([Buffer.from([tag]), octets]);
      }
    }
    if (definition.vendorId === 0) {
      if (octets.length === 0 || octets.length > 253) throw new DictionaryError(`${definition.name}: value of ${octets.length} octets`);
      return { type: definition.code, value: octets };
    }
    try {
      return encodeVendorSpecific(definition.vendorId, [{ type: definition.code, value: octets }]);
    } catch (error) {
      throw new DictionaryError(`${definition.name}: ${(error as Error).message}`);
    }
  }

  /**
   * Every attribute of a packet typed, Vendor-Specific ones split into their sub-attributes.
   * Unknown attributes come back as octets named `Attr-<code>` / `Vendor-<id>-Attr-<code>`; a value
   * that does not fit its type (an ipaddr of 5 octets) as octets under its name. Hidden values are
   * revealed only when `secret` and `authenticator` are given, otherwise left as octets.
   */
  decode(packet: Pick<Packet, 'attributes'>, options: HidingContext = {}): DecodedAttribute[] {
    const out: DecodedAttribute[] = [];
    for (const attribute of packet.attributes) {
      if (attribute.type === ATTR.VendorSpecific) {
        let subs;
        try {
          subs = decodeVendorSpecific(attribute.value);
        } catch {
          out.push({ name: 'Vendor-Specific', vendorId: 0, code: ATTR.VendorSpecific, value: attribute.value });
          continue;
        }
        for (const sub of subs) out.push(this.#decodeOne(sub.vendorId, sub.type, sub.value, options));
      } else {
        out.push(this.#decodeOne(0, attribute.type, attribute.value, options));
      }
    }
    return out;
  }

  /** The first value of a named attribute in a packet, typed, or undefined. */
  first(packet: Pick<Packet, 'attributes'>, name: string, options: HidingContext = {}): AttributeValue | undefined {
    const definition = this.attribute(name);
    if (!definition) throw new DictionaryError(`unknown RADIUS attribute ${name}`);
    for (const attribute of this.decode(packet, options)) {
      if (attribute.vendorId === definition.vendorId && attribute.code === definition.code) return attribute.value;
    }
    return undefined;
  }

  #decodeOne(vendorId: number, code: number, value: Buffer, options: HidingContext): DecodedAttribute {
    const definition = this.byCode(vendorId, code);
    if (!definition) return { name: vendorId === 0 ? `Attr-${code}` : `Vendor-${vendorId}-Attr-${code}`, vendorId, code, value };
    let octets = value;
    let tag: number | undefined;
    if (definition.hasTag) {
      if (definition.type === 'integer') {
        tag = octets[0];
        octets = Buffer.concat([Buffer.from([0]), octets.subarray(1)]);
      } else if (definition.encrypt === 2 || (octets[0] !== undefined && octets[0] <= 0x1f)) {
        tag = octets[0];
        octets = octets.subarray(1);
      }
    }
    if (definition.encrypt !== 0) {
      if (options.secret === undefined || !options.authenticator) return { name: definition.name, vendorId, code, ...(tag === undefined ? {} : { tag }), value: octets };
      try {
        octets = definition.encrypt === 1 ? unhideUserPassword(octets, options.secret, options.authenticator) : unhideSalted(octets, options.secret, options.authenticator);
      } catch {
        return { name: definition.name, vendorId, code, value };
      }
    }
    let typed: AttributeValue;
    try {
      typed = decodeValue(definition, octets);
    } catch {
      typed = value;
    }
    return { name: definition.name, vendorId, code, ...(tag === undefined ? {} : { tag }), value: typed };
  }
}

const FIXED_LENGTH: Partial<Record<AttributeType, number>> = { ipaddr: 4, integer: 4, date: 4, byte: 1, short: 2, integer64: 8, ipv6addr: 16, ifid: 8, ether: 6 };

function decodeValue(definition: AttributeDefinition, octets: Buffer): AttributeValue {
  const fixed = FIXED_LENGTH[definition.type];
  if (fixed !== undefined && octets.length !== fixed) throw new RadiusDecodeError(`${definition.name}: ${octets.length} octets, ${fixed} expected`);
  switch (definition.type) {
    case 'string':
      return octets.toString('utf8');
    case 'octets':
      return Buffer.from(octets);
    case 'ipaddr':
      return [...octets].join('.');
    case 'ipv6addr':
      return ipv6Text(octets);
    case 'ipv6prefix': {
      // RFC 3162 §2.3: reserved octet, prefix length, then the prefix's significant octets.
      if (octets.length < 2 || octets.length > 18 || octets[1]! > 128) throw new RadiusDecodeError(`${definition.name}: malformed prefix`);
      const address = Buffer.alloc(16);
      octets.copy(address, 0, 2);
      return `${ipv6Text(address)}/${octets[1]}`;
    }
    case 'ifid':
      return [0, 2, 4, 6].map((i) => octets.readUInt16BE(i).toString(16)).join(':');
    case 'integer':
    case 'date':
      return octets.readUInt32BE(0);
    case 'byte':
      return octets[0]!;
    case 'short':
      return octets.readUInt16BE(0);
    case 'integer64':
      return octets.readBigUInt64BE(0);
    case 'ether':
      return [...octets].map((b) => b.toString(16).padStart(2, '0')).join(':');
  }
}

function encodeValue(definition: AttributeDefinition, value: AttributeValue): Buffer {
  const fail = (why: string): never => {
    throw new DictionaryError(`${definition.name}: ${why}`);
  };
  switch (definition.type) {
    case 'string':
      if (Buffer.isBuffer(value)) return value;
      if (typeof value !== 'string') return fail('a string is expected');
      return Buffer.from(value, 'utf8');
    case 'octets':
      if (Buffer.isBuffer(value)) return value;
      if (typeof value === 'string' && /^0x([0-9a-f]{2})+$/i.test(value)) return Buffer.from(value.slice(2), 'hex');
      if (typeof value === 'string') return Buffer.from(value, 'utf8');
      return fail('octets are expected');
    case 'ipaddr':
      if (typeof value !== 'string' || !isIPv4(value)) return fail('an IPv4 address is expected');
      return Buffer.from(value.split('.').map(Number));
    case 'ipv6addr':
      if (typeof value !== 'string' || !isIPv6(value)) return fail('an IPv6 address is expected');
      return ipv6Octets(value);
    case 'ipv6prefix': {
      const match = typeof value === 'string' ? /^([^/]+)\/(\d{1,3})$/.exec(value) : null;
      if (!match || !isIPv6(match[1]!) || Number(match[2]) > 128) return fail('an IPv6 prefix (addr/len) is expected');
      const bits = Number(match[2]);
      const significant = ipv6Octets(match[1]!).subarray(0, Math.ceil(bits / 8));
      return Buffer.concat([Buffer.from([0, bits]), significant]);
    }
    case 'integer':
    case 'date':
    case 'byte':
    case 'short': {
      let n: number | undefined;
      if (typeof value === 'number') n = value;
      else if (typeof value === 'string') n = definition.values.get(value) ?? (/^\d+$/.test(value) ? Number(value) : undefined);
      const max = definition.type === 'byte' ? 0xff : definition.type === 'short' ? 0xffff : 0xffffffff;
      if (n === undefined || !Number.isInteger(n) || n < 0 || n > max) return fail(`an integer 0-${max} or a VALUE name is expected, not ${String(value)}`);
      const out = Buffer.alloc(FIXED_LENGTH[definition.type]!);
      out.writeUIntBE(n, 0, out.length);
      return out;
    }
    case 'integer64': {
      const n = typeof value === 'bigint' ? value : typeof value === 'number' && Number.isInteger(value) ? BigInt(value) : typeof value === 'string' && /^\d+$/.test(value) ? BigInt(value) : undefined;
      if (n === undefined || n < 0n || n > 0xffffffffffffffffn) return fail('a 64-bit integer is expected');
      const out = Buffer.alloc(8);
      out.writeBigUInt64BE(n);
      return out;
    }
    case 'ifid': {
      if (typeof value !== 'string' || !/^[0-9a-f]{1,4}(:[0-9a-f]{1,4}){3}$/i.test(value)) return fail('an interface id (four hex groups) is expected');
      const out = Buffer.alloc(8);
      value.split(':').forEach((group, i) => out.writeUInt16BE(parseInt(group, 16), i * 2));
      return out;
    }
    case 'ether': {
      if (typeof value !== 'string' || !/^[0-9a-f]{2}([:-][0-9a-f]{2}){5}$/i.test(value)) return fail('a MAC address is expected');
      return Buffer.from(value.replace(/[:-]/g, ''), 'hex');
    }
  }
}

function ipv6Octets(text: string): Buffer {
  let address = text;
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two hex groups.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(address);
  if (v4) {
    const [a, b, c, d] = v4[1]!.split('.').map(Number) as [number, number, number, number];
    address = address.slice(0, -v4[1]!.length) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = address.split('::') as [string, string | undefined];
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail === undefined ? [] : tail ? tail.split(':') : [];
  const zeros = tail === undefined ? [] : new Array<string>(8 - headGroups.length - tailGroups.length).fill('0');
  const groups = [...headGroups, ...zeros, ...tailGroups];
  const out = Buffer.alloc(16);
  groups.forEach((group, i) => out.writeUInt16BE(parseInt(group, 16), i * 2));
  return out;
}

/** RFC 5952 text: lowercase, no leading zeros, the longest run of two or more zero groups as `::`. */
export function ipv6Text(octets: Buffer): string {
  const groups = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => octets.readUInt16BE(i * 2));
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart === -1) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

/**
 * Parses dictionary files from `entry`, `read(path)` giving a file's text. Errors name the file and
 * line. `$INCLUDE` nests at most 8 deep.
 */
export function parseDictionary(entry: string, read: (path: string) => string): Dictionary {
  const dictionary = new Dictionary();
  const load = (path: string, depth: number): void => {
    if (depth > 8) throw new DictionaryError(`${path}: $INCLUDE nested too deep`);
    const lines = read(path).split(/\r?\n/);
    let vendor: { name: string; id: number } | undefined;
    lines.forEach((line, index) => {
      const where = `${path}:${index + 1}`;
      const words = line.replace(/#.*$/, '').trim().split(/\s+/).filter(Boolean);
      if (words.length === 0) return;
      const [keyword, ...args] = words as [string, ...string[]];
      switch (keyword) {
        case '$INCLUDE':
          if (args.length !== 1) throw new DictionaryError(`${where}: $INCLUDE takes one file`);
          load(resolve(dirname(path), args[0]!), depth + 1);
          return;
        case 'VENDOR': {
          const id = Number(args[1]);
          if (args.length < 2 || !Number.isInteger(id) || id <= 0 || id > 0xffffff) throw new DictionaryError(`${where}: VENDOR name id`);
          dictionary.defineVendor(args[0]!, id);
          return;
        }
        case 'BEGIN-VENDOR': {
          const id = dictionary.vendorId(args[0] ?? '');
          if (id === undefined) throw new DictionaryError(`${where}: BEGIN-VENDOR of an undeclared vendor`);
          vendor = { name: args[0]!, id };
          return;
        }
        case 'END-VENDOR':
          if (!vendor || vendor.name !== args[0]) throw new DictionaryError(`${where}: END-VENDOR without its BEGIN-VENDOR`);
          vendor = undefined;
          return;
        case 'ATTRIBUTE': {
          const [name, codeText, type, flagText] = args;
          const code = Number(codeText);
          const maxCode = 255;
          if (!name || !Number.isInteger(code) || code < 1 || code > maxCode) throw new DictionaryError(`${where}: ATTRIBUTE name code type [flags]`);
          if (!(ATTRIBUTE_TYPES as readonly string[]).includes(type ?? '')) throw new DictionaryError(`${where}: unknown type ${type}`);
          let hasTag = false;
          let encrypt: 0 | 1 | 2 = 0;
          for (const flag of (flagText ?? '').split(',').filter(Boolean)) {
            if (flag === 'has_tag') hasTag = true;
            else if (flag === 'encrypt=1') encrypt = 1;
            else if (flag === 'encrypt=2') encrypt = 2;
            else throw new DictionaryError(`${where}: unknown flag ${flag}`);
          }
          dictionary.define({
            name,
            vendorId: vendor?.id ?? 0,
            ...(vendor ? { vendor: vendor.name } : {}),
            code,
            type: type as AttributeType,
            hasTag,
            encrypt,
            values: new Map(),
            valueNames: new Map(),
          });
          return;
        }
        case 'VALUE': {
          const [attributeName, valueName, numberText] = args;
          const target = dictionary.definitionForValue(attributeName ?? '');
          const n = Number(numberText);
          if (!target || !valueName || !Number.isInteger(n)) throw new DictionaryError(`${where}: VALUE of an undefined attribute or without a number`);
          target.values.set(valueName, n);
          if (!target.valueNames.has(n)) target.valueNames.set(n, valueName);
          return;
        }
        default:
          throw new DictionaryError(`${where}: unknown keyword ${keyword}`);
      }
    });
    if (vendor) throw new DictionaryError(`${path}: BEGIN-VENDOR ${vendor.name} without END-VENDOR`);
  };
  load(entry, 0);
  return dictionary;
}

/** Dictionary files from disk, starting at `path`. */
export function loadDictionary(path: string): Dictionary {
  return parseDictionary(resolve(path), (file) => readFileSync(file, 'utf8'));
}

/** Where the shipped dictionaries are. */
export const DICTIONARY_DIR = join(dirname(fileURLToPath(import.meta.url)), 'dictionaries');

let standard: Dictionary | undefined;

/** The shipped dictionaries (`dictionaries/dictionary`), loaded once. */
export function standardDictionary(): Dictionary {
  standard ??= loadDictionary(join(DICTIONARY_DIR, 'dictionary'));
  return standard;
}
