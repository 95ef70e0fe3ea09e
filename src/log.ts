/**
 * The process logger: one JSON line per event (pino). Secrets never reach it: known secret-bearing
 * fields are redacted wherever they appear.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

export const REDACT_PATHS = [
  'password', '*.password', 'secret', '*.secret', 'passwordHash', '*.passwordHash', 'key', '*.key',
  'authorization', '*.authorization', 'req.headers.authorization', 'req.headers.cookie', 'headers.authorization',
];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'gatehouse' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}
