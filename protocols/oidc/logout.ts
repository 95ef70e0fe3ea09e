/**
 * Logout both ways. When a Gatehouse session ends anywhere (logout, revocation, password change, a
 * new sign-in), the provider sessions made from it end, their clients get back-channel logout
 * tokens, and the grants that do not outlive the session (no offline_access) are revoked. After
 * RP-initiated logout (confirmed on our page), the Gatehouse session ends too.
 */
import type Provider from 'oidc-provider';
import { SYSTEM, type AuditContext } from '../../src/audit/audit.ts';
import { clearSessionCookie } from '../../src/http/session-cookie.ts';
import { artifactKey, lineageGroup } from './adapter.ts';
import { lineageOf, type Ctx, type OidcContext } from './context.ts';

async function backchannelLogout(front: OidcContext, provider: Provider, clientId: string, accountId: string, sid: string | undefined): Promise<void> {
  const client = (await provider.Client.find(clientId).catch(() => undefined)) as { backchannelLogoutUri?: string; backchannelLogout(sub: string, sid: string): Promise<void> } | undefined;
  if (!client?.backchannelLogoutUri) return;
  try {
    await client.backchannelLogout(accountId, sid ?? '');
    await front.record(SYSTEM, { type: 'oidc.backchannel_logout', outcome: 'success', actor: { type: 'system', name: 'gatehouse' }, target: { type: 'application', name: clientId }, details: { user: accountId, sid } });
  } catch (err) {
    await front.record(SYSTEM, {
      type: 'oidc.backchannel_logout',
      outcome: 'failure',
      target: { type: 'application', name: clientId },
      reasons: [{ code: 'delivery_failed', description: err instanceof Error ? err.message : String(err) }],
      details: { user: accountId, sid },
    });
  }
}

interface StoredSession {
  p: { uid?: string; accountId?: string; authorizations?: Record<string, { sid?: string; grantId?: string; persistsLogout?: boolean }> };
}

/** Ends the provider sessions of every Gatehouse session that ends; returns the function that stops listening. */
export function endWithGatehouseSessions(front: OidcContext): () => void {
  const { core, kv } = front;
  return core.sessions.onEnded(async (session) => {
    const entries = await kv.listTagged<StoredSession>({ group: lineageGroup(lineageOf(session)) }, 'Session:');
    const provider = front.live?.provider;
    await Promise.all(
      entries.map(async (entry) => {
        const { accountId, authorizations = {}, uid } = entry.value.p;
        await kv.delete(entry.key);
        if (uid) await kv.delete(artifactKey('SessionUid', uid));
        await Promise.all(
          Object.entries(authorizations).map(async ([clientId, authorization]) => {
            if (provider && accountId) await backchannelLogout(front, provider, clientId, accountId, authorization.sid);
            // As oidc-provider's own logout does: grants that end with the session (no offline_access) are revoked.
            if (authorization.grantId && !authorization.persistsLogout) {
              await kv.deleteTagged({ group: authorization.grantId });
              await kv.delete(artifactKey('Grant', authorization.grantId));
            }
          }),
        );
      }),
    );
  });
}

/** After oidc-provider's end_session confirmation: the Gatehouse session of the same person ends too. */
export async function afterEndSession(front: OidcContext, ctx: Ctx): Promise<void> {
  const ended = (ctx.state as { oidcEndSession?: { accountId?: string; everywhere: boolean } }).oidcEndSession;
  if (!ended?.everywhere || !ended.accountId) return;
  const current = await front.sessionOf(ctx);
  // Only the person who confirmed on our page, and never when oidc-provider ends its session
  // because a different person has just signed in (then accountId is the previous person's).
  if (!current || current.session.userId !== ended.accountId) return;
  const actx: AuditContext = { actor: { type: 'user', id: current.session.userId, name: current.session.username }, protocol: 'oidc', ...(ctx.state.requestId ? { requestId: ctx.state.requestId } : {}), ...(ctx.state.clientIp ? { sourceIp: ctx.state.clientIp } : {}) };
  await front.core.sessions.end(actx, current.session.handle, 'logout');
  clearSessionCookie(ctx);
}
