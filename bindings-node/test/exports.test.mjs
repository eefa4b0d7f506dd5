// Every value the types declare is there at run time, through `import` and through `require`,
// and both entries hand out the same objects.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

/** The names of values (not types) that a declaration file exports. */
function declaredValues(file) {
  const text = fs.readFileSync(path.join(root, file), 'utf8');
  const pattern = /^export (?:declare )?(?:class|const|function) ([A-Za-z_$][\w$]*)/gm;
  return [...text.matchAll(pattern)].map((match) => match[1]);
}

test('every declared value can be imported by name, and required', async () => {
  const names = [...new Set([...declaredValues('index.d.ts'), ...declaredValues('surface.d.ts')])];
  assert.ok(names.includes('newWorkItem') && names.includes('MAX_JSON_DEPTH') && names.includes('Store'), names.join());
  const imported = await import('jetstate'); // the package's own name: its exports map
  const required = require('jetstate');
  for (const name of names) {
    assert.notEqual(imported[name], undefined, `import { ${name} } from 'jetstate'`);
    assert.notEqual(required[name], undefined, `require('jetstate').${name}`);
    assert.equal(imported[name], required[name], `${name} is the same through both entries`);
  }
  assert.equal(imported.default, required);
});
