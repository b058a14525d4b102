// VM reads shared by every process on the host for a period. The controller-manager asks
// `isattached` for every volume every minute, one process per volume: without this each would GET
// the VM. With it, a list of the machines of the group (the standalone VMs of a resource group, or
// the instances of a scale set), made by one process for all, serves every machine of the group for
// the period, so the reads grow with the groups' pages (50 machines each), not with the volumes.
// A machine the list does not show (created since) is read alone, as are writes' fresh reads.
// A list also writes each machine's own entry, so that a call asking about one machine reads one
// small file rather than parsing its whole group (500 machines with their disks in the benchmark).
// Entries are replaced by the result of every update of the VM and removed when an update fails,
// so the cache never outlives a change this host made (the stale-cache bug of known-issues §22 was
// a cache cleared *before* the update). Writes never plan from it: they always read fresh.
import * as path from 'node:path';
import { withLock } from '../system/lock.ts';
import { RecordStore } from '../system/state.ts';
import { machineKey, type Machine, type MachineRef } from './machines.ts';

interface Entry {
  /** When the read that produced it started, ms since the epoch. */
  readAt: number;
  machine: Machine;
}

interface GroupEntry {
  /** When the list that produced it started, ms since the epoch. */
  readAt: number;
  machines: Machine[];
}

/** cloud-provider-azure's VM cache period (vmCacheTTLDefaultInSeconds = 60). */
const DEFAULT_VM_CACHE_MS = 60_000;

export interface VmCacheOptions {
  dir: string;
  maxAgeMs?: number;
  /** How long a process waits for another one's read of the same VM or group. */
  lockTimeoutMs?: number;
}

export type MachineList = () => Promise<Machine[]>;

/** The list a machine appears in: its resource group's standalone VMs, or its scale set's instances. */
function machineGroupKey(ref: MachineRef): string {
  return (ref.kind === 'vm' ? ['vms', ref.resourceGroup] : ['vmss', ref.resourceGroup, ref.scaleSet]).join('~').toLowerCase();
}

export class VmCache {
  private readonly store: RecordStore<Entry>;
  private readonly groups: RecordStore<GroupEntry>;
  private readonly dir: string;
  private readonly maxAgeMs: number;
  private readonly lockTimeoutMs: number;

  constructor(options: VmCacheOptions) {
    this.dir = options.dir;
    // What a crash loses is read again; a list writes hundreds of entries, each fsync a disk flush.
    this.store = new RecordStore(options.dir, { durable: false });
    this.groups = new RecordStore(path.join(options.dir, 'lists'), { durable: false });
    this.maxAgeMs = options.maxAgeMs ?? DEFAULT_VM_CACHE_MS;
    this.lockTimeoutMs = options.lockTimeoutMs ?? 60_000;
  }

  /** The cached machine if it is young enough. */
  peek(ref: MachineRef, now = Date.now()): Machine | undefined {
    // A list writes the machine's own entry before its group's, so a young own entry is as new
    // as the group's: the group need not be read.
    const own = this.store.read(machineKey(ref));
    if (own !== undefined && this.isYoung(own, now)) return own.machine;
    const entry = this.newest(ref, now, own);
    return entry !== undefined && this.isYoung(entry, now) ? entry.machine : undefined;
  }

  /** Read less than the cache period ago, and not dated in the future (its age is unknown). */
  private isYoung(entry: Entry, now: number): boolean {
    return entry.readAt <= now && now - entry.readAt < this.maxAgeMs;
  }

  /** The last read of the machine however old, unless dated in the future (its age is unknown). */
  lastSeen(ref: MachineRef, now = Date.now()): Machine | undefined {
    return this.newest(ref, now)?.machine;
  }

  /** The latest of the machine's own entry and its group's, leaving out entries dated in the future. */
  private newest(ref: MachineRef, now: number, own = this.store.read(machineKey(ref))): Entry | undefined {
    const group = this.groups.read(machineGroupKey(ref));
    const member = group?.machines.find((machine) => machineKey(machine.ref) === machineKey(ref));
    const candidates = [own, member && group && { readAt: group.readAt, machine: member }].filter(
      (entry): entry is Entry => entry !== undefined && entry.readAt <= now,
    );
    return candidates.sort((a, b) => b.readAt - a.readAt)[0];
  }

  /**
   * The machine from the cache, else from a list of its group (when `list` is given) or a read of
   * it, made once for all processes asking at the same time: the reader holds a lock, and whoever
   * waited on it finds the fresh entry. undefined means the VM does not exist (which is not cached).
   */
  async get(ref: MachineRef, read: () => Promise<Machine | undefined>, list?: MachineList): Promise<Machine | undefined> {
    const cached = this.peek(ref);
    if (cached !== undefined) return cached;
    if (list !== undefined) {
      const listed = await this.fromList(ref, list);
      if (listed !== undefined) return listed;
    }
    return withLock(`vm-read-${machineKey(ref)}`, { dir: this.dir, timeoutMs: this.lockTimeoutMs }, async () => {
      const now = Date.now();
      const fresh = this.peek(ref, now);
      if (fresh !== undefined) return fresh;
      const machine = await read();
      if (machine !== undefined) this.storeIfNewer(ref, { readAt: now, machine });
      return machine;
    });
  }

  /** The machine as a list of its group shows it, listing the group when no young list is there. */
  private fromList(ref: MachineRef, list: MachineList): Promise<Machine | undefined> {
    const group = machineGroupKey(ref);
    return withLock(`vm-list-${group}`, { dir: this.dir, timeoutMs: this.lockTimeoutMs }, async () => {
      const now = Date.now();
      const fresh = this.peek(ref, now);
      if (fresh !== undefined) return fresh;
      const current = this.groups.read(group);
      if (current !== undefined && current.readAt <= now && now - current.readAt < this.maxAgeMs) return undefined;
      const machines = await list();
      for (const machine of machines) this.storeIfNewer(machine.ref, { readAt: now, machine });
      this.groups.write(group, { readAt: now, machines });
      return machines.find((machine) => machineKey(machine.ref) === machineKey(ref));
    });
  }

  /** Reads the machine now whatever the cache holds, and caches what was read. */
  async refresh(ref: MachineRef, read: () => Promise<Machine | undefined>): Promise<Machine | undefined> {
    const now = Date.now();
    const machine = await read();
    if (machine === undefined) this.invalidate(ref);
    else this.storeIfNewer(ref, { readAt: now, machine });
    return machine;
  }

  /** A read that started before an update finished must not replace what the update left. */
  private storeIfNewer(ref: MachineRef, entry: Entry): void {
    const current = this.store.read(machineKey(ref));
    // An entry dated after this read began is kept, unless it is dated in the future (the clock
    // stepped back since it was written): then nothing would ever replace it.
    if (current === undefined || current.readAt <= entry.readAt || current.readAt > Date.now()) this.store.write(machineKey(ref), entry);
  }

  /** After an update: the machine as the update left it. */
  remember(machine: Machine): void {
    this.store.write(machineKey(machine.ref), { readAt: Date.now(), machine });
  }

  /** The machine is in doubt (an update failed, or it is gone): neither its entry nor its group's serves it. */
  invalidate(ref: MachineRef): void {
    this.store.delete(machineKey(ref));
    const group = this.groups.read(machineGroupKey(ref));
    if (group === undefined) return;
    const machines = group.machines.filter((machine) => machineKey(machine.ref) !== machineKey(ref));
    if (machines.length !== group.machines.length) this.groups.write(machineGroupKey(ref), { ...group, machines });
  }
}
