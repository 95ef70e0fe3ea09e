/**
 * Applications as the front-ends read them — by name (an OIDC client id is the application's
 * name), never with the hash of their secret — and their secrets: checked in constant time,
 * rotated with the new one shown once.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { AuditContext } from '../audit/audit.ts';
import { hashSecret } from '../secrets/digest.ts';
import { DirectoryPart, findByRef, stripBookkeeping, whenForced, type WriteOptions } from './common.ts';
import type { Application } from './model.ts';
import { named, resourceTarget, withoutSecretHash } from './resources.ts';

export class Applications extends DirectoryPart {
  /** The application with this name (or OIDC client id), without its secret's hash. */
  async byName(name: string): Promise<Application | undefined> {
    const app = await this.dir.applications.findByName(name.trim().toLowerCase());
    return app ? withoutSecretHash(app) : undefined;
  }

  /** Every application, without secret hashes. */
  async all(): Promise<Application[]> {
    return (await this.dir.applications.all()).map(withoutSecretHash);
  }

  /**
   * The application named, if `secret` is its secret (constant-time compare of the hashes);
   * undefined for an unknown application, one without a secret, or a wrong secret.
   */
  async verifySecret(name: string, secret: string): Promise<Application | undefined> {
    const app = await this.dir.applications.findByName(name.trim().toLowerCase());
    const presented = Buffer.from(hashSecret(secret));
    // Compare against something of the same length even when there is nothing to compare with.
    const stored = Buffer.from(app?.secretHash ?? hashSecret(randomBytes(16).toString('hex')));
    const matches = timingSafeEqual(stored, presented);
    return app?.secretHash && matches ? withoutSecretHash(app) : undefined;
  }

  /**
   * Rotates an application's secret (OIDC client secret, LDAP service-account password): a new
   * random one, returned this once; only its SHA-256 is stored and the old one stops working. The
   * secret a declaration sets is the reconciler's (WriteOptions.force overrides); a declared
   * application without one keeps the secret made here. @throws ManagedByConfigError
   */
  async rotateSecret(ctx: AuditContext, ref: string, options: WriteOptions = {}): Promise<{ application: Application; secret: string }> {
    const current = await findByRef(this.dir.applications, ref, 'application');
    const forced = this.declared.declaresSecret(current.name) ? this.declared.check(ctx, current.managedBy, `the secret of ${named('applications', current)}`, 'replace', options) : false;
    const secret = randomBytes(32).toString('base64url');
    const application = await this.change(ctx, async (tx, emit) => {
      const updated = await tx.applications.update(current.id, (cur) => ({ ...stripBookkeeping(cur), secretHash: hashSecret(secret) }));
      await emit({ type: 'application.secret_rotated', outcome: 'success', target: resourceTarget('applications', updated), ...whenForced(forced) });
      return withoutSecretHash(updated);
    });
    return { application, secret };
  }
}
