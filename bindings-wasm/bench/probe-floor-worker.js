// The floor's worker, stamped for the probe (probe-stamps.js).
import './floor-worker.js';
import { stamp } from './probe-stamps.js';

stamp();
