/**
 * What an HTTP request brings to the sign-in pipeline (core.signIn), for every front-end on the
 * HTTP listener (the sign-in pages and portal, OpenID Connect, SAML): the client address, the
 * request id, and a certificate of one of the person's own devices (mTLS, or a trusted proxy's
 * header). A store failure while looking the device up fails the attempt closed, as any other.
 */
import type Koa from 'koa';
import type { Protocol } from '../directory/model.ts';
import type { SignInRequest, SignInResult } from '../authn/attempt.ts';
import type { Core } from '../core.ts';
import { deviceFromRequest } from '../devices/http.ts';
import type { Session } from '../sessions/service.ts';
import type { RequestState } from './types.ts';

type Ctx = Koa.ParameterizedContext<RequestState>;

export function signInContext(core: Core, ctx: Ctx): Pick<SignInRequest, 'clientIp' | 'requestId' | 'device'> {
  return {
    ...(ctx.state.clientIp ? { clientIp: ctx.state.clientIp } : {}),
    requestId: ctx.state.requestId,
    device: async () => {
      const found = await deviceFromRequest(ctx, { devices: core.devices, config: core.config });
      return found ? { device: found.device, certificate: true } : undefined;
    },
  };
}

/**
 * The decision for a signed-in person: the session's factors, nothing new presented (the portal's
 * gate, a step-up, an OpenID Connect interaction, a SAML request).
 */
export function decideForSession(core: Core, ctx: Ctx, session: Pick<Session, 'userId' | 'authn'>, resource: string, protocol?: Protocol): Promise<SignInResult> {
  return core.signIn.attempt({ ...signInContext(core, ctx), presented: { kind: 'session', userId: session.userId }, proven: session.authn, resource, ...(protocol ? { protocol } : {}) });
}
