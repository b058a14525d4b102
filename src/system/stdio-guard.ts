// The kubelet reads stdout and stderr together as ONE JSON document, so this module is imported
// first: from then on nothing but the reply writer reaches fd 1 or fd 2. Warnings, console output
// and library logs go to the log file; crashes go to the handler that answers Failure.
import * as fs from 'node:fs';
import { log } from './log.ts';

type Fatal = (error: unknown) => void;
let onFatal: Fatal = () => process.exit(1);

function captureStream(stream: NodeJS.WriteStream, name: string): void {
  const write = (chunk: unknown, encodingOrCallback?: unknown, callback?: unknown): boolean => {
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8');
    if (text.trim() !== '') log(`(${name}) ${text.trimEnd()}`);
    const done = typeof encodingOrCallback === 'function' ? encodingOrCallback : callback;
    if (typeof done === 'function') queueMicrotask(() => (done as () => void)());
    return true;
  };
  stream.write = write as typeof stream.write;
}

export function guardStdio(): void {
  captureStream(process.stdout, 'stdout');
  captureStream(process.stderr, 'stderr');
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
