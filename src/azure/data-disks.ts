// Changing a machine's data disks: the plan (which LUN each new disk gets, which entries are marked
// toBeDetached) and what the machine, as an update left it, says about each request. Pure: the
// batching that lets many calls share one update is disk-queue.ts.
import type { DataDisk } from '@azure/arm-compute';
import type { DataDiskChange } from './machines.ts';

export const MAX_LUN = 63;

export type CachingMode = 'None' | 'ReadOnly' | 'ReadWrite';

export type DiskRequest =
  | { op: 'attach'; diskUri: string; diskName: string; caching: CachingMode; writeAcceleratorEnabled: boolean }
  /**
   * `lun`: where the disk was seen before the update was planned (by the caller, or by the first
   * read of its batch). The detach is executed only while the disk is still there: a disk detached
   * and attached again since (at another LUN) belongs to whoever attached it again.
   */
  | { op: 'detach'; diskUri: string; lun: number | undefined };

export type DiskOutcome =
  | { status: 'attached'; lun: number }
  | { status: 'detached' }
  /** The VM or instance does not exist (any more). */
  | { status: 'machine-gone' }
  | { status: 'failed'; message: string };

export const sameDiskId = (a: string | undefined, b: string): boolean => a !== undefined && a.toLowerCase() === b.toLowerCase();

export function findDataDisk(dataDisks: readonly DataDisk[], diskUri: string): DataDisk | undefined {
  return dataDisks.find((disk) => sameDiskId(disk.managedDisk?.id, diskUri));
}

/** The lowest LUN no entry uses, entries still being detached included; undefined when all 64 are. */
export function lowestFreeLun(dataDisks: readonly Pick<DataDisk, 'lun'>[]): number | undefined {
  const taken = new Set(dataDisks.map((disk) => disk.lun));
  for (let lun = 0; lun <= MAX_LUN; lun++) if (!taken.has(lun)) return lun;
  return undefined;
}

export interface DataDiskPlan extends DataDiskChange {
  /** Whether an update is needed at all. */
  changed: boolean;
  /** Per request: decided now, or undefined when the update's result decides. */
  outcomes: (DiskOutcome | undefined)[];
}

export interface PlanOptions {
  /** Azure Stack has no toBeDetached: the entry is removed instead. */
  removeOnDetach: boolean;
  machineName: string;
}

export function planDataDisks(current: readonly DataDisk[], requests: readonly DiskRequest[], options: PlanOptions): DataDiskPlan {
  const dataDisks: DataDisk[] = structuredClone([...current]);
  const addedIds = new Set<string>();
  const attach: DataDisk[] = [];
  const detach: string[] = [];
  const outcomes = requests.map((request): DiskOutcome | undefined => {
    const entry = findDataDisk(dataDisks, request.diskUri);
    if (request.op === 'attach') {
      if (entry !== undefined && entry.toBeDetached === true) {
        return {
          status: 'failed',
          message: `disk ${request.diskName} is still being detached from ${options.machineName}; the attach can go ahead once the detach is done (Kubernetes retries it)`,
        };
      }
      if (entry !== undefined) return addedIds.has(request.diskUri.toLowerCase()) ? undefined : { status: 'attached', lun: entry.lun };
      const lun = lowestFreeLun(dataDisks);
      if (lun === undefined) {
        return { status: 'failed', message: `all ${MAX_LUN + 1} LUNs of ${options.machineName} are in use; detach a disk first` };
      }
      const added: DataDisk = {
        lun,
        name: request.diskName,
        createOption: 'Attach',
        caching: request.caching,
        managedDisk: { id: request.diskUri },
        ...(request.writeAcceleratorEnabled && { writeAcceleratorEnabled: true }),
      };
      dataDisks.push(added);
      attach.push(added);
      addedIds.add(request.diskUri.toLowerCase());
      return undefined;
    }
    if (entry === undefined) return { status: 'detached' };
    if (request.lun !== undefined && entry.lun !== request.lun) return movedSince(request, entry, options.machineName);
    if (detach.some((uri) => sameDiskId(uri, request.diskUri))) return undefined;
    if (options.removeOnDetach) dataDisks.splice(dataDisks.indexOf(entry), 1);
    // An entry already marked is a detach that has not finished or has failed: sending it again
    // is how ARM is asked to retry it.
    else entry.toBeDetached = true;
    detach.push(request.diskUri);
    return undefined;
  });
  return { dataDisks, attach, detach, changed: attach.length + detach.length > 0, outcomes };
}

/** Detaches that name no LUN get the one `dataDisks` shows: what they saw, from then on. */
export function pinObservedLuns(requests: readonly DiskRequest[], dataDisks: readonly DataDisk[]): DiskRequest[] {
  return requests.map((request) =>
    request.op === 'detach' && request.lun === undefined ? { ...request, lun: findDataDisk(dataDisks, request.diskUri)?.lun } : request,
  );
}

/** The disk is on the machine, but not at the LUN where the detach's caller saw it. */
function movedSince(request: DiskRequest & { op: 'detach' }, entry: DataDisk, machineName: string): DiskOutcome {
  return {
    status: 'failed',
    message:
      `disk ${request.diskUri} is attached to ${machineName} at LUN ${entry.lun}, not at LUN ${request.lun} where this detach saw it: ` +
      'it was detached and attached again meanwhile, so it is left attached; if it should go, the next detach sees it where it is now',
  };
}

/** What the machine, as the update left it, says about each request the plan left open. */
export function outcomesAfterUpdate(
  result: readonly DataDisk[],
  requests: readonly DiskRequest[],
  plan: DataDiskPlan,
  machineName: string,
): DiskOutcome[] {
  return requests.map((request, index) => {
    const decided = plan.outcomes[index];
    if (decided !== undefined) return decided;
    const entry = findDataDisk(result, request.diskUri);
    const attached = entry !== undefined && entry.toBeDetached !== true;
    if (request.op === 'detach') {
      return attached
        ? { status: 'failed', message: `${machineName} still lists disk ${request.diskUri} after the detach update; Kubernetes retries it` }
        : { status: 'detached' };
    }
    return attached
      ? { status: 'attached', lun: entry.lun }
      : { status: 'failed', message: `the update of ${machineName} finished but it does not list disk ${request.diskName}; Kubernetes retries the attach` };
  });
}
