import { steeringSuite } from '../helpers/steering-suite.js';

// TC BPF steering (clsact + cls_bpf da, pinned maps): the backend that runs on this machine type.
await steeringSuite('bpf');
