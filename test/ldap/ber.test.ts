/** The search hot path's own BER encoding (protocols/ldap/ber.ts), read back by @ldapjs/messages. */
import { describe, expect, it } from 'vitest';
import ldapMessages from '@ldapjs/messages';
import { BerReader } from '@ldapjs/asn1';
import { MessageBatch, searchResultDoneOp, searchResultEntryOp, SUCCESS_DONE } from '../../protocols/ldap/ber.ts';
import { nextFrame } from '../../protocols/ldap/framing.ts';

interface Decoded { messageId: number; type: string; status?: number; matchedDN?: string; diagnosticMessage?: string; objectName?: string; attributes?: Array<{ type: string; values: string[] }> }

function decodeAll(buffer: Buffer): Decoded[] {
  const out: Decoded[] = [];
  let rest = buffer;
  while (rest.length) {
    const frame = nextFrame(rest, 64 * 1024 * 1024);
    if (frame.kind !== 'message') throw new Error(`bad frame: ${JSON.stringify(frame)}`);
    const m = ldapMessages.LdapMessage.parse(new BerReader(Buffer.from(rest.subarray(0, frame.size)))) as unknown as Record<string, unknown>;
    // The codec's messages expose getters: copy what is compared into a plain object.
    out.push({
      messageId: m.messageId as number, type: m.type as string, status: m.status as number | undefined, matchedDN: m.matchedDN as string | undefined,
      diagnosticMessage: m.diagnosticMessage as string | undefined, objectName: m.objectName === undefined ? undefined : String(m.objectName),
      attributes: (m.attributes as Array<{ type: string; values: string[] }> | undefined)?.map((a) => ({ type: a.type, values: [...a.values] })),
    });
    rest = rest.subarray(frame.size);
  }
  return out;
}

describe('LDAP BER encoding of search results', () => {
  it('frames entries and results for every size of message ID and length', () => {
    for (const id of [0, 1, 127, 128, 255, 256, 32767, 32768, 8388608, 2 ** 31 - 1]) {
      for (const size of [0, 100, 200, 70_000, 300_000]) {
        const batch = new MessageBatch(id);
        batch.add(searchResultEntryOp('uid=zoe,ou=people,dc=example,dc=com', [{ type: 'cn', values: ['Zoë', 'x'.repeat(size)] }, { type: 'mail', values: [] }]));
        batch.add(SUCCESS_DONE);
        batch.add(searchResultDoneOp(11, 'dc=example,dc=com', 'over ldap.maxEntriesExamined'));
        const bytes = batch.take();
        expect(batch.empty).toBe(true);
        const [entry, done, limited] = decodeAll(bytes);
        expect(entry).toMatchObject({ messageId: id, type: 'SearchResultEntry', objectName: 'uid=zoe,ou=people,dc=example,dc=com' });
        expect(entry!.attributes![0]!.values).toEqual(['Zoë', 'x'.repeat(size)]);
        expect(entry!.attributes![1]).toMatchObject({ type: 'mail', values: [] });
        expect(done).toMatchObject({ messageId: id, type: 'SearchResultDone', status: 0 });
        expect(limited).toMatchObject({ messageId: id, type: 'SearchResultDone', status: 11, matchedDN: 'dc=example,dc=com', diagnosticMessage: 'over ldap.maxEntriesExamined' });
      }
    }
  });
});
