// Making a Node single executable from a preparation blob: a copy of a Node binary, stripped, with
// the blob injected where Node looks for it. The build makes the driver's binary this way, and the
// bench the bare ones it weighs a startup snapshot on, so that they compare like with like.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';

const require = createRequire(import.meta.url);
/** The fuse Node's single-executable support looks for (postject flips it once the blob is in). */
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

/**
 * Runs a build tool without its progress chatter: its stdout is dropped, its stderr is shown except
 * for lines `harmless` matches, and a failure throws with the whole stderr.
 */
export function quietly(file: string, args: readonly string[], harmless = /^$/): void {
  const run = spawnSync(file, args, { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  const stderr = (run.stderr ?? '').trim();
  if (run.error !== undefined || run.status !== 0) {
    throw new Error(`${path.basename(file)} ${args[0]} failed: ${stderr || run.error?.message || `exit ${run.status}`}`);
  }
  const shown = stderr.split('\n').filter((line) => line !== '' && !harmless.test(line));
  if (shown.length > 0) console.warn(shown.join('\n'));
}

export interface BlobInjection {
  /** The Node binary the executable is a copy of. */
  node: string;
  /** What `node --experimental-sea-config` wrote. */
  blob: string;
  output: string;
  /** The strip(1) for the binary's architecture. */
  strip?: string;
}

/** Writes `output`: `node` stripped, with `blob` injected. */
export function injectBlob({ node, blob, output, strip = 'strip' }: BlobInjection): void {
  fs.copyFileSync(node, output);
  fs.chmodSync(output, 0o755);
  // Stripping must happen before injection; afterwards it corrupts the binary.
  try {
    execFileSync(strip, ['--strip-all', output]);
  } catch {
    console.warn(`${strip} not found; the binary stays unstripped (about 12 MB larger); scripts/setup.sh installs it`);
  }
  // postject's ELF library warns once per unnamed note section it meets (`.note.100`); harmless.
  quietly(
    process.execPath,
    [require.resolve('postject/dist/cli.js'), output, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE],
    /^warning: Can't find string offset for section name '\.note[.0-9]*'$/,
  );
}
