/**
 * Which service providers got an assertion in a Gatehouse session, with the NameID and SessionIndex
 * they got: Single Logout tells each of them (SAML Profiles §4.4). Kept in the TTL store under the
 * session's lineage (stable across the token rotations of a step-up), until the session's absolute
 * end; removed when the session ends. At most one entry per SP (the latest assertion's).
 */
import type { TtlStore } from '../../src/core.ts';
import type { Session } from '../../src/sessions/service.ts';
import { lineageOf } from './context.ts';
import type { NameIdFormat } from './settings.ts';

export interface Participant {
  app: string;
  entityId: string;
  nameId: string;
  nameIdFormat: NameIdFormat;
  sessionIndex: string;
}

const keyOf = (session: Pick<Session, 'userId' | 'createdAt'>) => `participants:${lineageOf(session)}`;

export async function participantsOf(kv: TtlStore, session: Pick<Session, 'userId' | 'createdAt'>): Promise<Participant[]> {
  return (await kv.get<Participant[]>(keyOf(session))) ?? [];
}

export async function addParticipant(kv: TtlStore, session: Session, participant: Participant): Promise<void> {
  const list = (await participantsOf(kv, session)).filter((p) => p.app !== participant.app);
  list.push(participant);
  const ttl = Math.max(1, Math.ceil((session.expiresAt - Date.now()) / 1000));
  await kv.put(keyOf(session), list, ttl, { subject: session.userId });
}

export async function forgetParticipants(kv: TtlStore, session: Pick<Session, 'userId' | 'createdAt'>): Promise<void> {
  await kv.delete(keyOf(session));
}
