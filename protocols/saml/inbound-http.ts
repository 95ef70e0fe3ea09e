/**
 * The HTTP side of inbound messages: the form of an HTTP-POST binding read within a size limit, the
 * options inbound.ts validates with (our endpoint as Destination, the skew, single-use IDs in the TTL
 * store, the registered SPs, the schema validator), and a refusal carried out: audited (at most once
 * a minute per address and check, so a flood of bad messages cannot flood the log), then a Requester
 * status to the SP's registered ACS when inbound.ts says the message can be trusted that far, else an
 * error page. Never a POST to an address the SP did not register.
 */
import type { Ctx, SamlContext } from './context.ts';
import { SamlRequestError, type InboundOptions, type SpTrust } from './inbound.ts';
import type { SchemaValidator } from './xml-schema.ts';

/** The fields of an application/x-www-form-urlencoded body, at most `maxBytes`; duplicate fields refused. */
export async function readSamlForm(ctx: Ctx, maxBytes: number): Promise<Record<string, string>> {
  if (ctx.request.type !== 'application/x-www-form-urlencoded') throw new SamlRequestError('missing_message', 'the form is not application/x-www-form-urlencoded');
  const declared = Number(ctx.get('content-length') || NaN);
  if (declared > maxBytes) {
    ctx.set('Connection', 'close');
    throw new SamlRequestError('too_large', `the form is over ${maxBytes} bytes`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) {
      ctx.set('Connection', 'close');
      throw new SamlRequestError('too_large', `the form is over ${maxBytes} bytes`);
    }
    chunks.push(chunk);
  }
  const fields: Record<string, string> = Object.create(null) as Record<string, string>;
  const text = Buffer.concat(chunks).toString('latin1');
  for (const pair of text.split('&')) {
    if (!pair) continue;
    const eq = pair.indexOf('=');
    let name: string;
    let value: string;
    try {
      name = decodeURIComponent((eq < 0 ? pair : pair.slice(0, eq)).replaceAll('+', ' '));
      value = decodeURIComponent((eq < 0 ? '' : pair.slice(eq + 1)).replaceAll('+', ' '));
    } catch {
      throw new SamlRequestError('malformed_encoding', 'the form is not correctly URL-encoded');
    }
    if (!['SAMLRequest', 'SAMLResponse', 'RelayState'].includes(name)) continue;
    if (name in fields) throw new SamlRequestError('duplicate_parameter', `${name} is given more than once`);
    fields[name] = value;
  }
  return fields;
}

export function trustOf(sp: { entityId: string; signingCertificates: string[]; acs: SpTrust['acs']; slo?: { url: string; binding: 'redirect' | 'post' }; requireSignedRequests: boolean }): SpTrust {
  return { entityId: sp.entityId, signingCertificates: sp.signingCertificates, acs: sp.acs, ...(sp.slo ? { slo: sp.slo } : {}), requireSignedRequests: sp.requireSignedRequests };
}

export function inboundOptions(front: SamlContext, endpoint: '/sso' | '/slo', schema: SchemaValidator | undefined): InboundOptions {
  return {
    spByEntityId: async (entityId) => {
      const found = await front.byEntityId(entityId);
      return found && trustOf(found.sp);
    },
    destination: `${front.baseUrl}${endpoint}`,
    skewSeconds: front.config.clockSkewSeconds,
    // Message IDs are remembered for as long as a message could still be accepted, and a little more.
    firstUse: (sp, id, ttlSeconds) => front.kv.add(`used:${sp.length > 512 ? sp.slice(0, 512) : sp}\n${id}`, 1, Math.max(ttlSeconds, 2 * front.config.clockSkewSeconds + 60)),
    ...(schema ? { schema } : {}),
  };
}

/** Audits a refused message, at most once a minute per address and check. */
export async function auditRefusal(front: SamlContext, ctx: Ctx, err: SamlRequestError, message: string, binding: string): Promise<void> {
  const key = `refused:${ctx.state.clientIp ?? '-'}\n${err.code}`;
  if (!(await front.kv.add(key, 1, 60))) return;
  await front.core.audit.record(front.auditContext(ctx), {
    type: 'saml.request.refused',
    outcome: 'failure',
    reasons: [{ code: err.reason, description: err.detail }],
    details: { check: err.code, binding, message, ...(err.sp ? { issuer: err.sp } : {}), detail: err.detail },
  });
}
