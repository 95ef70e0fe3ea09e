/**
 * RADIUS clients (NAS: VPN gateways, WiFi controllers) as the RADIUS front-end needs them: found by
 * the source address of a packet, with the shared secret decrypted (it signs and checks every
 * packet, RFC 2865 §3). Nothing else ever sees the secret.
 */
import { CidrSet } from '../net/client-ip.ts';
import { DirectoryPart } from './common.ts';
import type { RadiusClient } from './model.ts';
import { RADIUS_SECRET_PURPOSE, withoutSecret } from './resources.ts';
import type { StoredRadiusClient } from '../store/types.ts';

export class RadiusClients extends DirectoryPart {
  /** Parsed address sets, kept per client version (clients are read fresh; parsing is what costs). */
  private readonly parsed = new Map<string, { version: number; set: CidrSet }>();

  /**
   * The client a packet from `address` comes from, with its shared secret: the one whose address
   * or network contains it, the most specific first (a host entry wins over its subnet).
   */
  async bySource(address: string): Promise<{ client: RadiusClient; secret: string } | undefined> {
    const matching = (await this.dir.radiusClients.all()).filter((c) => this.setOf(c).has(address));
    if (!matching.length) return undefined;
    const best = matching.sort((a, b) => prefixLength(b.address) - prefixLength(a.address))[0]!;
    return { client: withoutSecret(best), secret: this.secretOf(best) };
  }

  /**
   * `bySource` over the clients as they are now, synchronous: one store read for any number of
   * packets (the RADIUS front-end matches every datagram, a flood's too, without awaiting the store).
   * A client's secret is decrypted at its first match.
   */
  async matcher(): Promise<(address: string) => { client: RadiusClient; secret: string } | undefined> {
    const all = (await this.dir.radiusClients.all()).map((c) => ({ stored: c, set: this.setOf(c), prefix: prefixLength(c.address) }));
    // The most specific first (a stable sort: ties keep the store's order, as in bySource).
    all.sort((a, b) => b.prefix - a.prefix);
    const decrypted = new Map<string, { client: RadiusClient; secret: string }>();
    return (address) => {
      const hit = all.find((c) => c.set.has(address));
      if (!hit) return undefined;
      let found = decrypted.get(hit.stored.id);
      if (!found) {
        found = { client: withoutSecret(hit.stored), secret: this.secretOf(hit.stored) };
        decrypted.set(hit.stored.id, found);
      }
      return found;
    };
  }

  /** The shared secret of a stored client, decrypted (for the RADIUS front-end and reconciling declarations only). */
  secretOf(client: StoredRadiusClient): string {
    return this.deps.keyring.decrypt(client.secretEncrypted, RADIUS_SECRET_PURPOSE);
  }

  /** The stored client by name (secret encrypted), or undefined. */
  stored(name: string): Promise<StoredRadiusClient | undefined> {
    return this.dir.radiusClients.findByName(name.trim().toLowerCase());
  }

  private setOf(client: StoredRadiusClient): CidrSet {
    const cached = this.parsed.get(client.id);
    if (cached?.version === client.version) return cached.set;
    if (this.parsed.size > 10_000) this.parsed.clear();
    const set = new CidrSet([client.address]);
    this.parsed.set(client.id, { version: client.version, set });
    return set;
  }
}

function prefixLength(cidr: string): number {
  const slash = cidr.indexOf('/');
  return slash < 0 ? (cidr.includes(':') ? 128 : 32) : Number(cidr.slice(slash + 1));
}
