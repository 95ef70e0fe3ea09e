/**
 * The FrontEnd contract: what every protocol front-end under protocols/ is to the server. Each
 * exports one FrontEnd; src/front-ends.ts lists them, and everything that concerns front-ends loops
 * over that list: the configuration schema (each owns its section), the application-settings
 * checks, the warnings at start, the addresses checked before the store is touched, the listeners
 * and HTTP mounts, the startup banner, and the SIGHUP reload (a front-end whose settings changed is
 * restarted with the new ones). See protocols/README.md for a new front-end's checklist.
 *
 * A front-end is given the core (src/core.ts) and its own section; it translates its protocol into
 * calls on the core and the core's answers back, and never reaches into the store or another
 * front-end (an import rule in `npm test` holds it to that).
 */
import type Koa from 'koa';
import type { z } from 'zod';
import type { CoreConfig } from './config/schema.ts';
import type { Core } from './core.ts';
import type { RadiusClientSettingsCheck, SettingsCheck } from './directory/service.ts';
import type { HttpMount, RequestState } from './http/types.ts';
import type { Binding } from './net/listen.ts';

/** A place the front-end serves, for the startup banner. */
export interface Listener {
  name: string;
  url: string;
}

/** What a starting front-end gets besides the core and its section. */
export interface FrontEndHost {
  core: Core;
  /** The HTTP listener's application (front-ends that mount on it, e.g. to keep its cookie keys). */
  http: Koa<RequestState>;
  /** Where people and applications reach the HTTP listener: server.http.publicUrl, or the listener's own URL. */
  publicUrl: string;
  /** Its own counters on /metrics (names `gatehouse_<front-end>_…`; labels with a fixed set of values only). */
  metrics: FrontEndMetrics;
}

/** A counter on the instance's /metrics. Asking twice for a name (a restart on reload) gives the same counter. */
export interface FrontEndMetrics {
  counter<L extends string>(name: string, help: string, labelNames: readonly L[]): { inc(labels: Record<L, string>, value?: number): void };
}

/** A started front-end. */
export interface RunningFrontEnd {
  /** Where it serves, for the banner (empty when it only mounts on the HTTP listener and says nothing more). */
  readonly listeners: Listener[];
  /** Its part of the HTTP listener, if it serves HTTP: asked in order after the admin and device APIs. */
  readonly mount?: HttpMount;
  /** What it serves on the HTTP listener, for the listener's line in the banner (`sign-in and portal /`). */
  readonly httpPaths?: string;
  /** Called after every configuration reload that kept it running (the directory may have changed). */
  reloaded?(): Promise<void>;
  /** Stops serving: listeners closed, clients told, timers cleared. */
  close(): Promise<void>;
}

export interface FrontEnd<Schema extends z.ZodType = z.ZodType, Name extends string = string> {
  /** Its key in the configuration file, and its name in logs: `ldap`, `oidc`, `web`. */
  readonly name: Name;
  /** Its configuration section, with every option's default and description (docs/configuration.md is generated from it). */
  readonly configSchema: Schema;
  /** Whether the section turns it on. */
  enabled(section: z.output<Schema>): boolean;
  /** The application settings it defines (`settings.<its key>`), checked on every create and update. */
  readonly settingsCheck?: SettingsCheck;
  /** The RADIUS client settings it defines (`settings.<its key>` of a RADIUS client), checked on every create and update. */
  readonly radiusClientSettingsCheck?: RadiusClientSettingsCheck;
  /** Settings that work but deserve a loud warning at start. */
  warnings?(section: z.output<Schema>, config: CoreConfig): string[];
  /** The addresses it will bind, checked before anything in the store changes. */
  bindings?(section: z.output<Schema>): Binding[];
  /** Starts it with `section`; resolves once it listens. */
  start(host: FrontEndHost, section: z.output<Schema>): Promise<RunningFrontEnd>;
}

/** A front-end definition, typed by its schema (keeps `section` typed inside it). */
export function defineFrontEnd<const Name extends string, Schema extends z.ZodType>(frontEnd: FrontEnd<Schema, Name>): FrontEnd<Schema, Name> {
  return frontEnd;
}
