// The Azure SDK logs through @azure/logger, which writes to stderr when AZURE_LOG_LEVEL is set:
// 11 KiB on one attach, and stderr is part of the reply the kubelet parses. Its output goes to the
// driver's log instead, through the same redaction as every other line.
import { format } from 'node:util';
import { AzureLogger, getLogLevel, setLogLevel } from '@azure/logger';
import { log } from '../system/log.ts';

export function routeSdkLog(): void {
  AzureLogger.log = (...args: unknown[]) => log(`(azure sdk) ${format(...args)}`);
  // Without AZURE_LOG_LEVEL the SDK's errors still reach the log (its warnings are mostly
  // deprecation notices about its own internals, on every call).
  if (getLogLevel() === undefined) setLogLevel('error');
}
