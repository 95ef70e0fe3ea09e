/**
 * Memory of the SAML schema validator (protocols/saml/xml-schema.ts) over many validations: issue 12
 * asks for RSS that stays flat (the validator it replaces is reported to leak about 16 MB per
 * login). Validates a signed AuthnRequest N times (default 2,000) through one validator and prints
 * the process's RSS — the worker and its WebAssembly instances included — after a warm-up, then
 * every quarter, and the growth. Not a ratio benchmark, so not a `*.bench.ts`:
 *
 *   node bench/saml-schema-rss.ts [N]
 */
import { createSchemaValidator } from '../protocols/saml/xml-schema.ts';

const n = Number(process.argv[2] ?? 2000);
const message =
  '<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ' +
  'ID="_0123456789abcdef" Version="2.0" IssueInstant="2026-01-01T00:00:00Z" Destination="https://idp.test/saml/sso" ' +
  'ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" AssertionConsumerServiceURL="https://sp.test/acs">' +
  '<saml:Issuer>https://sp.test/metadata</saml:Issuer>' +
  '<samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress" AllowCreate="true"/>' +
  '</samlp:AuthnRequest>';

const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
const validator = createSchemaValidator();
try {
  for (let i = 0; i < 100; i++) await validator.validate(message, 'protocol');
  const start = process.memoryUsage().rss;
  const started = Date.now();
  console.log(`after warm-up (100): RSS ${mib(start)} MiB`);
  for (let i = 1; i <= n; i++) {
    await validator.validate(message, 'protocol');
    if (i % Math.max(1, Math.floor(n / 4)) === 0) console.log(`${i} validations: RSS ${mib(process.memoryUsage().rss)} MiB`);
  }
  const end = process.memoryUsage().rss;
  const seconds = (Date.now() - started) / 1000;
  console.log(`${n} validations in ${seconds.toFixed(1)} s (${(n / seconds).toFixed(0)}/s): RSS ${mib(start)} → ${mib(end)} MiB (${(((end - start) / start) * 100).toFixed(1)} %)`);
} finally {
  await validator.close();
}
