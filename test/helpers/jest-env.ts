// Every test file's own process writes its log and state into a directory of the run, never the
// host's /var/log/azure-flexvolume.log or /var/lib/azure-flexvolume: unit tests run driver code in
// process, and the defaults would be the host's. Spawned drivers get their own (sandbox.ts).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

if (process.env.FLEXVOLUME_LOG_FILE === undefined || process.env.FLEXVOLUME_STATE_DIR === undefined) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flexvolume-jest-'));
  process.env.FLEXVOLUME_LOG_FILE ??= path.join(dir, 'driver.log');
  process.env.FLEXVOLUME_STATE_DIR ??= path.join(dir, 'state');
  process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
}
