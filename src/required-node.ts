// Imported first by main.ts: the bundle (bin/flexvolume.cjs) run by a Node older than the one it
// was built for would answer `init` and then fail every mount with a TypeError deep inside a
// library. So before any other module runs, such a call is handed to the standalone executable
// built beside the bundle (it brings its own Node), which answers it as the kubelet expects; with
// none there, every call answers a Failure naming the Node it needs. Plain code on purpose: it must
// run on any Node that can start the bundle, and costs a current Node nothing.
import * as fs from 'node:fs';
import * as path from 'node:path';

const required = Number(process.env.FLEXVOLUME_REQUIRED_NODE_MAJOR);
const running = Number(process.versions.node.split('.')[0]);

/** `flexvolume` in the bundle's own directory (through the symlink the kubelet ran), if executable. */
function standaloneBeside(script: string | undefined): string | undefined {
  if (script === undefined) return undefined;
  try {
    const standalone = path.join(path.dirname(fs.realpathSync(script)), 'flexvolume');
    fs.accessSync(standalone, fs.constants.X_OK);
    return standalone;
  } catch {
    return undefined;
  }
}

if (Number.isInteger(required) && running < required) {
  const script = process.argv[1];
  const standalone = standaloneBeside(script);
  if (standalone !== undefined && script !== undefined) {
    // argv0 is the path the caller ran: its name picks the driver, its directory holds the config.
    // Loaded here only: a current Node never pays for child_process on this path.
    const { spawnSync } = require('node:child_process') as typeof import('node:child_process');
    const answered = spawnSync(standalone, process.argv.slice(2), { stdio: 'inherit', argv0: path.resolve(script) });
    process.exit(answered.status ?? 1);
  }
  const message =
    `this driver needs Node.js ${required} or newer, but ${process.execPath} is Node.js ${process.versions.node}; ` +
    `install Node.js ${required}, or use the standalone executable bin/flexvolume, which brings its own`;
  fs.writeSync(1, `${JSON.stringify({ status: 'Failure', message })}\n`);
  process.exit(1);
}
