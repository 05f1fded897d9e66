// Part 1 of the hostile-input suite (./suite.ts says how the files share its cases).
import { hostileSuite } from './suite.js';

hostileSuite(import.meta.url);
