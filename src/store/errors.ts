/** The store raises the core's typed errors (src/errors.ts): they are part of its contract. */
export * from '../errors.ts';
