/**
 * A software WebAuthn authenticator and client in one, for tests without a browser. It holds one
 * ES256 (P-256) credential made with node:crypto and produces the JSON a browser would send
 * (RegistrationResponseJSON / AuthenticationResponseJSON, WebAuthn L3 §5.1.8-9):
 *
 *  - registration: attestation format 'none', authenticatorData with the attested credential data
 *    (AAGUID, credential ID, COSE_Key EC2 P-256 public key, RFC 9053 §7.1.1) and flags UP/UV/AT/BE/BS;
 *  - authentication: authenticatorData (rpIdHash, flags, signCount), an ES256 DER signature over
 *    authenticatorData || SHA-256(clientDataJSON) (§6.3.3), and the user handle when the
 *    credential is discoverable (a passkey).
 *
 * Every part can be tampered with per call (origin, RP ID, challenge, type, flags, counter,
 * signature, user handle, credential ID) to make the responses an attacker or a broken client would.
 */
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { isoCBOR } from '@simplewebauthn/server/helpers';
import type {
  AuthenticationResponseJSON, PublicKeyCredentialCreationOptionsJSON, PublicKeyCredentialRequestOptionsJSON, RegistrationResponseJSON,
} from '@simplewebauthn/server';

/** authenticatorData flag bits (§6.1). */
export const FLAGS = { UP: 0x01, UV: 0x04, BE: 0x08, BS: 0x10, AT: 0x40, ED: 0x80 } as const;

const COSE_EC2_P256_ES256 = { kty: 1, alg: 3, crv: -1, x: -2, y: -3 } as const;

export interface AuthenticatorOptions {
  /** The web origin the (simulated) browser runs on, e.g. http://localhost:9090. */
  origin: string;
  /** The RP ID the authenticator scopes the credential to (default: the options' rp.id, or the origin's host). */
  rpId?: string;
  /** Make a discoverable credential (passkey): assertions carry the user handle. Default true. */
  discoverable?: boolean;
  /** Whether the authenticator verifies the user (PIN, biometrics): sets UV. Default true. */
  userVerification?: boolean;
  /** Backup eligible / backed up (a synced passkey): BE/BS. Default false. */
  backupEligible?: boolean;
  backedUp?: boolean;
  /** The signCount of the registration; each assertion adds `counterStep` (0: an authenticator without a counter). */
  initialCounter?: number;
  counterStep?: number;
  transports?: string[];
  aaguid?: Uint8Array;
}

/** Per-call changes to what an honest authenticator and client would send. */
export interface Tamper {
  origin?: string;
  /** The RP ID whose SHA-256 goes into authenticatorData. */
  rpId?: string;
  challenge?: string;
  type?: string;
  /** Replace the signCount for this one response (the authenticator's own counter is left alone). */
  counter?: number;
  up?: boolean;
  uv?: boolean;
  /** Flip a bit in the last byte of the signature (still valid DER, wrong value). */
  flipSignature?: boolean;
  /** Send this user handle instead (null: none). */
  userHandle?: string | null;
  /** Claim this credential ID (id and rawId) instead of ours. */
  credentialId?: string;
  /** Answer even if the allow list does not name our credential (a misbehaving client). */
  ignoreAllowCredentials?: boolean;
  /** Register even if the exclude list names our credential (an authenticator would refuse). */
  ignoreExcludeCredentials?: boolean;
}

export class SoftwareAuthenticator {
  readonly options: AuthenticatorOptions;
  readonly credentialId: string;
  private readonly privateKey: KeyObject;
  private readonly cosePublicKey: Uint8Array;
  /** The signature counter as the authenticator keeps it. */
  counter: number;
  /** The user handle received at registration (base64url). */
  userHandle: string | undefined;
  private registeredRpId: string | undefined;

  constructor(options: AuthenticatorOptions, clone?: { credentialId: string; privateKey: KeyObject; cosePublicKey: Uint8Array; counter: number; userHandle: string | undefined; rpId: string | undefined }) {
    this.options = options;
    if (clone) {
      this.credentialId = clone.credentialId;
      this.privateKey = clone.privateKey;
      this.cosePublicKey = clone.cosePublicKey;
      this.counter = clone.counter;
      this.userHandle = clone.userHandle;
      this.registeredRpId = clone.rpId;
      return;
    }
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = publicKey.export({ format: 'jwk' });
    this.privateKey = privateKey;
    this.cosePublicKey = isoCBOR.encode(
      new Map<number, number | Uint8Array>([
        [COSE_EC2_P256_ES256.kty, 2], // EC2
        [COSE_EC2_P256_ES256.alg, -7], // ES256
        [COSE_EC2_P256_ES256.crv, 1], // P-256
        [COSE_EC2_P256_ES256.x, bytes(Buffer.from(jwk.x!, 'base64url'))],
        [COSE_EC2_P256_ES256.y, bytes(Buffer.from(jwk.y!, 'base64url'))],
      ]),
    );
    this.credentialId = randomBytes(32).toString('base64url');
    this.counter = options.initialCounter ?? 0;
  }

  /** Another authenticator holding the same key and counter: what a cloned security key is. */
  clone(): SoftwareAuthenticator {
    return new SoftwareAuthenticator(this.options, {
      credentialId: this.credentialId, privateKey: this.privateKey, cosePublicKey: this.cosePublicKey, counter: this.counter, userHandle: this.userHandle, rpId: this.registeredRpId,
    });
  }

  /** navigator.credentials.create(): the registration response for `options`. */
  register(options: PublicKeyCredentialCreationOptionsJSON, tamper: Tamper = {}): RegistrationResponseJSON {
    if (!tamper.ignoreExcludeCredentials && (options.excludeCredentials ?? []).some((c) => c.id === this.credentialId)) {
      throw new Error('InvalidStateError: the authenticator holds an excluded credential');
    }
    const rpId = this.options.rpId ?? options.rp.id ?? new URL(this.options.origin).hostname;
    this.registeredRpId = rpId;
    this.userHandle = options.user.id;
    const credentialId = tamper.credentialId ?? this.credentialId;
    const rawCredentialId = Buffer.from(credentialId, 'base64url');
    const idLength = Buffer.alloc(2);
    idLength.writeUInt16BE(rawCredentialId.length);
    const authData = Buffer.concat([
      this.authDataHead(tamper.rpId ?? rpId, FLAGS.AT, tamper, tamper.counter ?? this.counter),
      Buffer.from(this.options.aaguid ?? new Uint8Array(16)),
      idLength,
      rawCredentialId,
      Buffer.from(this.cosePublicKey),
    ]);
    const attestationObject = isoCBOR.encode(new Map<string, string | Uint8Array | Map<string, string>>([
      ['fmt', 'none'],
      ['attStmt', new Map<string, string>()],
      ['authData', bytes(authData)],
    ]));
    const clientDataJSON = this.clientData('webauthn.create', options.challenge, tamper);
    return {
      id: credentialId,
      rawId: credentialId,
      type: 'public-key',
      response: {
        clientDataJSON: clientDataJSON.toString('base64url'),
        attestationObject: Buffer.from(attestationObject).toString('base64url'),
        authenticatorData: authData.toString('base64url'),
        transports: (this.options.transports ?? ['usb']) as RegistrationResponseJSON['response']['transports'],
        publicKeyAlgorithm: -7,
      },
      authenticatorAttachment: 'cross-platform',
      clientExtensionResults: { credProps: { rk: this.discoverable } },
    };
  }

  /** navigator.credentials.get(): an assertion for `options`; advances the counter. */
  authenticate(options: PublicKeyCredentialRequestOptionsJSON, tamper: Tamper = {}): AuthenticationResponseJSON {
    const allow = options.allowCredentials ?? [];
    if (!tamper.ignoreAllowCredentials) {
      if (allow.length > 0 && !allow.some((c) => c.id === this.credentialId)) throw new Error('NotAllowedError: no allowed credential on this authenticator');
      if (allow.length === 0 && !this.discoverable) throw new Error('NotAllowedError: no discoverable credential on this authenticator');
    }
    const rpId = this.registeredRpId ?? options.rpId ?? new URL(this.options.origin).hostname;
    this.counter += this.options.counterStep ?? 1;
    const authData = this.authDataHead(tamper.rpId ?? rpId, 0, tamper, tamper.counter ?? this.counter);
    const clientDataJSON = this.clientData('webauthn.get', options.challenge, tamper);
    const signed = Buffer.concat([authData, createHash('sha256').update(clientDataJSON).digest()]);
    const signature = sign('sha256', signed, { key: this.privateKey, dsaEncoding: 'der' });
    if (tamper.flipSignature) signature[signature.length - 1]! ^= 0x01;
    const userHandle = tamper.userHandle === undefined ? (this.discoverable ? this.userHandle : undefined) : (tamper.userHandle ?? undefined);
    const credentialId = tamper.credentialId ?? this.credentialId;
    return {
      id: credentialId,
      rawId: credentialId,
      type: 'public-key',
      response: {
        clientDataJSON: clientDataJSON.toString('base64url'),
        authenticatorData: authData.toString('base64url'),
        signature: signature.toString('base64url'),
        ...(userHandle !== undefined ? { userHandle } : {}),
      },
      authenticatorAttachment: 'cross-platform',
      clientExtensionResults: {},
    };
  }

  private get discoverable(): boolean {
    return this.options.discoverable ?? true;
  }

  /** rpIdHash (32) | flags (1) | signCount (4, big-endian) — §6.1. */
  private authDataHead(rpId: string, extraFlags: number, tamper: Tamper, counter: number): Buffer {
    let flags = extraFlags;
    if (tamper.up ?? true) flags |= FLAGS.UP;
    if (tamper.uv ?? this.options.userVerification ?? true) flags |= FLAGS.UV;
    if (this.options.backupEligible) flags |= FLAGS.BE;
    if (this.options.backupEligible && this.options.backedUp) flags |= FLAGS.BS;
    const signCount = Buffer.alloc(4);
    signCount.writeUInt32BE(counter >>> 0);
    return Buffer.concat([createHash('sha256').update(rpId, 'utf8').digest(), Buffer.from([flags]), signCount]);
  }

  /** CollectedClientData (§5.8.1), serialised as a browser does. */
  private clientData(type: string, challenge: string, tamper: Tamper): Buffer {
    return Buffer.from(JSON.stringify({ type: tamper.type ?? type, challenge: tamper.challenge ?? challenge, origin: tamper.origin ?? this.options.origin, crossOrigin: false }), 'utf8');
  }
}

/** A plain Uint8Array copy (CBOR encoders need not know Buffer). */
function bytes(buffer: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(buffer);
}
