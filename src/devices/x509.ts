/**
 * @peculiar/x509, loaded after its Reflect polyfill: the library's dependency injection (tsyringe)
 * needs `Reflect.getMetadata` when it is first evaluated, and ES modules are evaluated in import
 * order. Import x509 from here, never from the package directly.
 */
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(globalThis.crypto);

export { x509 };
