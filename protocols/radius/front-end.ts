/**
 * RADIUS as a front-end (src/frontend.ts): UDP authentication and accounting listeners for VPN
 * gateways, WiFi controllers and network gear declared as RADIUS clients; PAP through the core's
 * sign-in pipeline with the client as the resource (`radius:<name>`), a second factor by
 * Access-Challenge or appended code, reply attributes from groups. The client's own options are its
 * `settings.radius` (config.ts), checked on every create and update.
 */
import { defineFrontEnd } from '../../src/frontend.ts';
import type { Binding } from '../../src/net/listen.ts';
import { urlOf } from '../../src/net/listen.ts';
import { RadiusConfig, radiusClientSettingsProblems } from './config.ts';

const LOOPBACK = ['127.0.0.1', 'localhost', '::1'];

export const radiusFrontEnd = defineFrontEnd({
  name: 'radius',
  configSchema: RadiusConfig,
  enabled: (section) => section.enabled,
  radiusClientSettingsCheck: radiusClientSettingsProblems,
  warnings(section) {
    const warnings: string[] = [];
    if (!section.clientDefaults.requireMessageAuthenticator) {
      warnings.push('radius.clientDefaults.requireMessageAuthenticator is off: Access-Requests without Message-Authenticator are accepted, which BlastRADIUS (CVE-2024-3596) exploits; turn it off only per client, for a NAS that cannot send one');
    }
    if (section.hosts.some((h) => !LOOPBACK.includes(h))) {
      warnings.push(`the RADIUS listeners bind to ${section.hosts.join(', ')}: RADIUS over UDP hides only the password; keep it on a network you trust, between the NAS and Gatehouse`);
    }
    return warnings;
  },
  bindings(section) {
    return section.hosts.flatMap((host): Binding[] => [
      { label: 'RADIUS authentication', transport: 'udp', host, port: section.authPort, setting: 'radius.authPort' },
      { label: 'RADIUS accounting', transport: 'udp', host, port: section.acctPort, setting: 'radius.acctPort' },
    ]);
  },
  async start({ core, metrics }, section) {
    const [{ createRadiusServer }, { accountingHandler }, { DisconnectWorker }, { createEap }, { standardDictionary }] = await Promise.all([
      import('./server.ts'),
      import('./accounting.ts'),
      import('./coa.ts'),
      import('./eap/handler.ts'),
      import('./dictionary.ts'),
    ]);
    const { enabled: _, ...options } = section;
    const accounted = metrics.counter('gatehouse_radius_accounting_total', 'Accounting-Requests handled, by what became of them', ['result']);
    const accounting = accountingHandler(core, (r) => accounted.inc({ result: r.answered ? r.recorded : r.reason }));
    const dictionary = standardDictionary();
    const eap = createEap({ core, config: section.eap, dictionary, metrics });
    const server = createRadiusServer({ core, options, metrics, dictionary, accounting, eap: eap.handle });
    const bound = await server.listen();
    // Continuous verification (RFC 5176): reviews live sessions and sends the queued Disconnects.
    const ended = metrics.counter('gatehouse_radius_disconnects_total', 'Disconnect- and CoA-Requests sent to NASes, by outcome', ['mode', 'state']);
    const disconnects = new DisconnectWorker(core, { observe: (o) => ended.inc({ mode: o.mode, state: o.state }) }).start();
    const listeners = [
      ...bound.auth.map((a) => ({ name: 'radius authentication (PAP, Access-Challenge for a second factor)', url: urlOf('radius', a) })),
      ...bound.acct.map((a) => ({ name: 'radius accounting', url: urlOf('radius', a) })),
    ];
    return {
      listeners,
      close: async () => {
        await disconnects.close();
        await server.close();
        eap.close();
      },
    };
  },
});
