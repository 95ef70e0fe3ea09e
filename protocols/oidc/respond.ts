/** The few responses the front-end writes itself (oidc-provider writes the rest). */
import type { Ctx } from './context.ts';

export function seeOther(ctx: Ctx, location: string): void {
  ctx.status = 303;
  ctx.redirect(location);
}

export function html(ctx: Ctx, status: number, document: string): void {
  ctx.status = status;
  ctx.type = 'html';
  ctx.set('Cache-Control', 'no-store');
  ctx.body = document;
}

export const signIn = (returnTo: string, resource: string, extra: Record<string, string> = {}) => `/login?${new URLSearchParams({ return_to: returnTo, resource, ...extra })}`;
