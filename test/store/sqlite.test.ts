import { sqlite } from '../helpers/backends.ts';
import { storeConformance } from './conformance.ts';

storeConformance(sqlite);
