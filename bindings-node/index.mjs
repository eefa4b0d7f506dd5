// The package's ES module entry: the CommonJS module's names as named exports, so that
// `import { Store, newWorkItem } from 'jetstate'` works as `require('jetstate')` does. One module
// underneath: both entries hand out the same classes and functions.
import jetstate from './index.js';

export const {
  Store,
  BlockingStore,
  JetstateError,
  ErrorCode,
  newExecution,
  newWorkItem,
  newEvent,
  newSnapshot,
  newDefinition,
  newTenant,
  MAX_JSON_DEPTH,
} = jetstate;
export default jetstate;
