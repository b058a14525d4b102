// Imported first by main.ts: the bundle (bin/flexvolume.cjs) run by a Node older than the one it
// was built for would answer `init` and then fail every mount with a TypeError deep inside a
// library. Every call answers this Failure instead, before any other module runs. Plain code on
// purpose: it must run on any Node that can start the bundle.
import * as fs from 'node:fs';

const required = Number(process.env.FLEXVOLUME_REQUIRED_NODE_MAJOR);
const running = Number(process.versions.node.split('.')[0]);

if (Number.isInteger(required) && running < required) {
  const message =
    `this driver needs Node.js ${required} or newer, but ${process.execPath} is Node.js ${process.versions.node}; ` +
    `install Node.js ${required}, or use the standalone executable bin/flexvolume, which brings its own`;
  fs.writeSync(1, `${JSON.stringify({ status: 'Failure', message })}\n`);
  process.exit(1);
}
