// The ESM entry: `import { conformance } from 'sessionspec'`, the same function as require's.
import cjs from './index.js';

export const { conformance } = cjs;
export default cjs;
