import { postgres } from '../helpers/backends.ts';
import { storeConformance } from './conformance.ts';

storeConformance(postgres);
