/**
 * The schema validator (protocols/saml/xml-schema.ts): libxml2-wasm in long-lived workers, each
 * schema compiled once, the OASIS schemas from the repository, offline. Real samlify messages
 * validate; broken ones do not; a validation past its time limit is refused and the next one gets a
 * new worker, as does a worker a large document grew past its memory cap; the queue is bounded;
 * memory stays flat over repeated validations; readAuthnRequest refuses what the schema refuses.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { SCHEMA_DIR, SchemaValidationError, createSchemaValidator, samlifySchemaValidator, type SchemaValidator } from '../../protocols/saml/xml-schema.ts';
import { SamlRequestError, decodePost, decodeRedirect, readAuthnRequest } from '../../protocols/saml/inbound.ts';
import { IDP_SSO, authnRequestXml, b64, inboundOptions, keyAndCert, queryOf, samlifyPair, signXml, spTrust, unb64, type KeyAndCert } from './inbound-fixtures.ts';

let validator: SchemaValidator;
let spKey: KeyAndCert;

beforeAll(async () => {
  validator = createSchemaValidator();
  spKey = await keyAndCert('sp.test');
});
afterAll(() => validator.close());

async function rejection(promise: Promise<unknown>): Promise<SchemaValidationError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SchemaValidationError);
  return err as SchemaValidationError;
}

const METADATA = `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://sp.test/metadata"><md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp.test/acs" index="0"/></md:SPSSODescriptor></md:EntityDescriptor>`;

describe('schema validation', () => {
  it('the XSDs in the repository import only each other (no network)', () => {
    const files = new Set(readdirSync(SCHEMA_DIR));
    for (const file of files) {
      if (!file.endsWith('.xsd')) continue;
      const text = readFileSync(join(SCHEMA_DIR, file), 'utf8');
      for (const m of text.matchAll(/<(?:xs:|xsd:)?(?:import|include)\b[^>]*schemaLocation\s*=\s*["']([^"']+)["']/g)) expect(files, `${file} imports ${m[1]}`).toContain(m[1]);
    }
  });

  it("samlify's signed AuthnRequests (both bindings) and a LogoutRequest validate", async () => {
    const { sp, idp } = samlifyPair(spKey, true);
    const post = sp.createLoginRequest(idp, 'post');
    await validator.validate(unb64(post.context), 'protocol');
    const redirect = sp.createLoginRequest(idp, 'redirect');
    await validator.validate(decodeRedirect(queryOf(redirect.context), 'SAMLRequest').xml, 'protocol');
    const logout = sp.createLogoutRequest(idp, 'post', { logoutNameID: 'alice@example.com', sessionIndex: 's1' });
    await validator.validate(unb64(logout.context), 'protocol');
  });

  it('SP metadata validates against the metadata schema, not the protocol one', async () => {
    await validator.validate(METADATA, 'metadata');
    expect((await rejection(validator.validate(METADATA, 'protocol'))).kind).toBe('invalid');
  });

  it('an invalid message is refused with its first errors', async () => {
    const missing = await rejection(validator.validate(authnRequestXml().replace('Version="2.0" ', ''), 'protocol'));
    expect(missing.kind).toBe('invalid');
    expect(missing.errors.join('\n')).toMatch(/Version/);
    const misplaced = authnRequestXml().replace(/(<saml:Issuer>.*<\/saml:Issuer>)(<samlp:NameIDPolicy[^>]*\/>)/, '$2$1');
    expect((await rejection(validator.validate(misplaced, 'protocol'))).kind).toBe('invalid');
    expect((await rejection(validator.validate('<samlp:AuthnRequest', 'protocol'))).kind).toBe('invalid');
  });

  it('in samlify shape', async () => {
    const shaped = samlifySchemaValidator(validator);
    await expect(shaped.validate(authnRequestXml())).resolves.toBe('SUCCESS_VALIDATE_XML');
    await expect(shaped.validate('<nope/>')).rejects.toBeInstanceOf(SchemaValidationError);
  });

  it('a validation past its time limit is refused, and the next one runs on a new worker', async () => {
    const own = createSchemaValidator();
    try {
      await own.validate(authnRequestXml(), 'protocol');
      const started = own.started();
      // A 3 MB document takes libxml2 far longer than 2 ms to read.
      expect((await rejection(own.validate(`<a>${'<b>x</b>'.repeat(400_000)}</a>`, 'protocol', { timeoutMs: 2 }))).kind).toBe('timeout');
      // The worker was terminated mid-validation: the next validation starts a new one.
      await own.validate(authnRequestXml(), 'protocol');
      expect(own.started()).toBe(started + 1);
      expect((await rejection(own.validate(authnRequestXml().replace('Version="2.0" ', ''), 'protocol'))).kind).toBe('invalid');
    } finally {
      await own.close();
    }
  });

  it('with two workers, a slow validation does not hold up the next one', async () => {
    const two = createSchemaValidator({ workers: 2 });
    try {
      await Promise.all([two.validate(authnRequestXml(), 'protocol'), two.validate(authnRequestXml(), 'protocol')]);
      let slowSettled = false;
      const slow = two.validate(`<a>${'<b>x</b>'.repeat(400_000)}</a>`, 'protocol').catch(() => undefined).finally(() => (slowSettled = true));
      await two.validate(authnRequestXml(), 'protocol');
      expect(slowSettled).toBe(false);
      await slow;
    } finally {
      await two.close();
    }
  });

  it('a document over the size cap is refused before the worker (a 40 MB one once aborted the process); large ones under it do not hurt', async () => {
    const huge = await rejection(validator.validate(`<a>${'x'.repeat(40_000_000)}</a>`, 'protocol'));
    expect(huge.kind).toBe('invalid');
    expect(huge.message).toMatch(/over 4194304 bytes/);
    expect((await rejection(validator.validate(`<a>${'<b>x</b>'.repeat(400_000)}</a>`, 'protocol'))).kind).toBe('invalid');
    await validator.validate(authnRequestXml(), 'protocol');
  });

  it('a worker whose memory a large document grew past the cap is replaced after answering; small documents never', async () => {
    const own = createSchemaValidator({ workers: 1, maxMemoryBytes: 32 * 1024 * 1024 });
    try {
      for (let i = 0; i < 200; i++) await own.validate(authnRequestXml(), 'protocol');
      expect(own.started()).toBe(1);
      // Valid against nothing, but parsed whole first: 400,000 elements are tens of MiB of tree.
      expect((await rejection(own.validate(`<a>${'<b>x</b>'.repeat(400_000)}</a>`, 'protocol'))).kind).toBe('invalid');
      await own.validate(authnRequestXml(), 'protocol');
      expect(own.started()).toBe(2);
    } finally {
      await own.close();
    }
  });

  it('the queue is bounded, and a closed validator refuses', async () => {
    const small = createSchemaValidator({ maxQueue: 2 });
    const results = await Promise.allSettled(Array.from({ length: 6 }, () => small.validate(authnRequestXml(), 'protocol')));
    const refusedBusy = results.filter((r) => r.status === 'rejected' && (r.reason as SchemaValidationError).kind === 'unavailable');
    expect(refusedBusy.length).toBeGreaterThan(0);
    expect(results.filter((r) => r.status === 'fulfilled').length).toBeGreaterThan(0);
    await small.close();
    expect((await rejection(small.validate(authnRequestXml(), 'protocol'))).kind).toBe('unavailable');
  });

  it('memory stays flat over repeated validations (each schema compiled once, each document freed)', async () => {
    for (let i = 0; i < 50; i++) await validator.validate(authnRequestXml(), 'protocol');
    const before = process.memoryUsage().rss;
    // Valid and invalid messages interleaved: no result depends on the one before.
    for (let i = 0; i < 300; i++) {
      if (i % 3 === 2) expect((await rejection(validator.validate(authnRequestXml().replace('Version="2.0" ', ''), 'protocol'))).kind).toBe('invalid');
      else await validator.validate(authnRequestXml(), 'protocol');
    }
    const growth = process.memoryUsage().rss - before;
    // 300 validations leaking the reported 16 MB each would be gigabytes; allow GC slack.
    expect(growth).toBeLessThan(64 * 1024 * 1024);
  }, 60_000);

  it('readAuthnRequest runs the schema when given one', async () => {
    const opts = inboundOptions(spTrust(spKey.certPem, true), IDP_SSO, { schema: validator });
    const { sp, idp } = samlifyPair(spKey, true);
    const ok = sp.createLoginRequest(idp, 'post');
    await readAuthnRequest(decodePost({ SAMLRequest: ok.context }, 'SAMLRequest'), opts);
    // An element the schema does not allow there, signed by the genuine key: the signature is fine,
    // the message is not.
    const bogus = signXml(authnRequestXml({ extra: '<samlp:Bogus/>' }), { keyPem: spKey.keyPem, rootName: 'AuthnRequest' });
    const err = await readAuthnRequest(decodePost({ SAMLRequest: b64(bogus) }, 'SAMLRequest'), opts).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SamlRequestError);
    expect((err as SamlRequestError).code).toBe('schema_invalid');
  });

  it('only messages from a registered SP, signed when required, reach the shared worker', async () => {
    let calls = 0;
    const counting: SchemaValidator = { validate: (xml, kind) => (calls++, validator.validate(xml, kind)), close: async () => {}, started: () => 0 };
    const opts = inboundOptions(spTrust(spKey.certPem, true), IDP_SSO, { schema: counting });
    const stranger = decodePost({ SAMLRequest: b64(authnRequestXml({ issuer: 'https://stranger.test' })) }, 'SAMLRequest');
    expect(await readAuthnRequest(stranger, opts).catch((e: SamlRequestError) => e.code)).toBe('unknown_issuer');
    const unsigned = decodePost({ SAMLRequest: b64(authnRequestXml()) }, 'SAMLRequest');
    expect(await readAuthnRequest(unsigned, opts).catch((e: SamlRequestError) => e.code)).toBe('unsigned');
    expect(calls).toBe(0);
    await readAuthnRequest(decodePost({ SAMLRequest: b64(signXml(authnRequestXml(), { keyPem: spKey.keyPem, rootName: 'AuthnRequest' })) }, 'SAMLRequest'), opts);
    expect(calls).toBe(1);
  });
});
