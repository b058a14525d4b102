// The kubelet reads stdout and stderr together as ONE JSON document, so this module is imported
// first: from then on nothing but the reply writer reaches fd 1 or fd 2. Warnings, console output
// and library logs go to the log file; crashes go to the handler that answers Failure.
import * as fs from 'node:fs';
import { log } from './log.ts';

type Fatal = (error: unknown) => void;
let onFatal: Fatal = () => process.exit(1);

/** A stream whose writes become log lines. */
function logStream(name: string): NodeJS.WriteStream {
  const { Writable } = process.getBuiltinModule('node:stream');
  const stream = new Writable({
    decodeStrings: false,
    write(chunk: unknown, _encoding, done) {
      const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8');
      if (text.trim() !== '') log(`(${name}) ${text.trimEnd()}`);
      done();
    },
  });
  return Object.assign(stream, { isTTY: false, fd: name === 'stdout' ? 1 : 2 }) as unknown as NodeJS.WriteStream;
}

/**
 * Replaces process.stdout/stderr before anything touches them. The stand-in is built on first
 * use, so a call that never writes (init) never loads the stream machinery at all.
 */
function captureStream(name: 'stdout' | 'stderr'): void {
  let stream: NodeJS.WriteStream | undefined;
  Object.defineProperty(process, name, {
    configurable: true,
    enumerable: true,
    get: () => (stream ??= logStream(name)),
  });
}

export function guardStdio(): void {
  captureStream('stdout');
  captureStream('stderr');
  process.removeAllListeners('warning');
  process.on('warning', (warning) => log(`(node warning) ${warning.name}: ${warning.message}`));
  process.on('uncaughtException', (error) => onFatal(error));
  process.on('unhandledRejection', (reason) => onFatal(reason));
}

export function setFatalHandler(handler: Fatal): void {
  onFatal = handler;
}

/** The only way anything reaches the caller: one synchronous write of the whole document. */
export function writeStdout(text: string): void {
  fs.writeSync(1, text);
}
