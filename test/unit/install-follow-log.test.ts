// Following the driver log as `kubectl logs` will show it: a little history, new lines as they
// come, the log's rotation and truncation, a file that appears late, and a prompt stop.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { followLog } from '../../src/install/follow-log.ts';

let dir: string;
let file: string;
let output: string;
let controller: AbortController;
let following: Promise<void>;

function start(options: { historyLines?: number; skipLine?: (line: string) => boolean } = {}): void {
  output = '';
  controller = new AbortController();
  following = followLog({ file, write: (text) => (output += text), signal: controller.signal, pollMs: 20, ...options });
}

async function eventually(text: string): Promise<void> {
  for (let i = 0; i < 100 && !output.includes(text); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  expect(output).toContain(text);
}

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flexvolume-follow-'));
  file = path.join(dir, 'driver.log');
});
afterEach(async () => {
  controller.abort();
  await following;
  fs.rmSync(dir, { recursive: true, force: true });
});

test('shows the last lines, then what is appended, whole lines only', async () => {
  fs.writeFileSync(file, 'one\ntwo\nthree\n');
  start({ historyLines: 2 });
  await eventually('two\nthree\n');
  expect(output).toBe('two\nthree\n');
  fs.appendFileSync(file, 'four\nfi');
  await eventually('four\n');
  await new Promise((resolve) => setTimeout(resolve, 60));
  expect(output).toBe('two\nthree\nfour\n');
  fs.appendFileSync(file, 've\n');
  await eventually('five\n');
});

test('follows the new file after rotation, reading the rest of the old one first', async () => {
  fs.writeFileSync(file, 'before\n');
  start({ historyLines: 0 });
  await new Promise((resolve) => setTimeout(resolve, 50));
  fs.appendFileSync(file, 'last of the old file\n');
  fs.renameSync(file, `${file}.1`);
  fs.writeFileSync(file, 'first of the new file\n');
  await eventually('first of the new file\n');
  expect(output).toBe('last of the old file\nfirst of the new file\n');
});

test('a log that does not exist yet is read from its start once it appears; truncation starts over', async () => {
  start();
  await new Promise((resolve) => setTimeout(resolve, 50));
  fs.writeFileSync(file, 'created late\n');
  await eventually('created late\n');
  fs.truncateSync(file, 0);
  await new Promise((resolve) => setTimeout(resolve, 50));
  fs.appendFileSync(file, 'after truncation\n');
  await eventually('after truncation\n');
  expect(output).toBe('created late\nafter truncation\n');
});

test('skips the lines it is told to skip, and stops promptly when aborted', async () => {
  fs.writeFileSync(file, '');
  start({ skipLine: (line) => line.includes(' install[42] ') });
  fs.appendFileSync(file, 't install[42] installed\nt nfs mount[7] mounted\n');
  await eventually('mounted');
  expect(output).toBe('t nfs mount[7] mounted\n');
  const stopped = Date.now();
  controller.abort();
  await following;
  expect(Date.now() - stopped).toBeLessThan(100);
});
