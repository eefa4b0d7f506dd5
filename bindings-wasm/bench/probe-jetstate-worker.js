// jetstate-web's worker.js, stamped for the probe (probe-stamps.js); the time spent inside the
// WebAssembly call (NativeStore.call) is stamped too, to part it from the worker's JavaScript.
import '../worker.js';
import { NativeStore } from '../dist/jetstate_web.js';
import { stamp } from './probe-stamps.js';

stamp(NativeStore.prototype, 'call');
