import { steeringSuite } from '../helpers/steering-suite.js';

// NeuVector's u32 + pedit + mirred steering: runs only where the probe finds act_pedit and
// act_gact (not on this machine type's kernel: the suite is skipped with the reason printed).
await steeringSuite('u32');
