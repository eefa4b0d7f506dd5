'use strict';
// Loads the native addon built for this platform (scripts/build.js names it so).
const path = require('node:path');

const file = path.join(__dirname, `jetstate.${process.platform}-${process.arch}.node`);
try {
  module.exports = require(file);
} catch (err) {
  throw new Error(
    `jetstate: cannot load the native addon ${file} (${err.message}). Build it with \`npm run build\` ` +
      `in the package's folder (Rust and cargo needed).`,
  );
}
