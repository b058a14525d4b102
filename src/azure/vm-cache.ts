// VM reads shared by every process on the host for a period. The controller-manager asks
// `isattached` for every volume every minute, one process per volume: without this each would GET
// the VM. With it, a list of the machines of the group (the standalone VMs of a resource group, or
// the instances of a scale set), made by one process for all, serves every machine of the group for
// the period, so the reads grow with the groups' pages (50 machines each), not with the volumes.
// A machine the list does not show (created since) is read alone, as are writes' fresh reads.
// A list writes each machine's entry in a store of its own (only lists write there, under the
// group's lock, so a list never overwrites what an update just left), and a call asking about one
// machine reads that and the machine's own entry: two small files, never its whole group (500
// machines with their disks in the benchmark).
// Entries are replaced by the result of every update of the VM, and an update that fails leaves a
// dated mark of doubt that outranks every older entry, a list still in flight included, so the
// cache never outlives a change this host made (the stale-cache bug of known-issues §22 was
// a cache cleared *before* the update). Writes never plan from it: they always read fresh.
import { entryPath } from '../system/entry-path.ts';
import { withLock } from '../system/lock.ts';
import { RecordStore } from '../system/state.ts';
import { machineKey, type Machine, type MachineRef } from './machines.ts';

interface Entry {
  /** When the read that produced it started (for a doubt: when it was cast), ms since the epoch. */
  readAt: number;
  /** undefined: the machine is in doubt since readAt (an update of it failed); nothing older serves it. */
  machine?: Machine;
}

interface GroupEntry {
  /** When the list that produced it started, ms since the epoch. */
  readAt: number;
  /** The keys of the machines it showed, whose entries are in the listed store. */
  members?: string[];
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
  /** Reads of one machine, updates' results and doubts. */
  private readonly store: RecordStore<Entry>;
  /** Each machine as the last list of its group showed it. */
  private readonly listed: RecordStore<Entry>;
  private readonly groups: RecordStore<GroupEntry>;
  private readonly dir: string;
  private readonly maxAgeMs: number;
  private readonly lockTimeoutMs: number;

  constructor(options: VmCacheOptions) {
    this.dir = options.dir;
    // What a crash loses is read again; a list writes hundreds of entries, each fsync a disk flush.
    this.store = new RecordStore(options.dir, { durable: false });
    this.listed = new RecordStore(entryPath(options.dir, 'listed'), { durable: false });
    this.groups = new RecordStore(entryPath(options.dir, 'lists'), { durable: false });
    this.maxAgeMs = options.maxAgeMs ?? DEFAULT_VM_CACHE_MS;
    this.lockTimeoutMs = options.lockTimeoutMs ?? 60_000;
  }

  /** The cached machine if it is young enough and not in doubt. */
  peek(ref: MachineRef, now = Date.now()): Machine | undefined {
    const entry = this.newest(ref, now);
    return entry !== undefined && now - entry.readAt < this.maxAgeMs ? entry.machine : undefined;
  }

  /** The last read of the machine however old, unless it is in doubt or dated in the future (its age is unknown). */
  lastSeen(ref: MachineRef, now = Date.now()): Machine | undefined {
    return this.newest(ref, now)?.machine;
  }

  /** The latest of the machine's own entry and its listed one, leaving out entries dated in the future. */
  private newest(ref: MachineRef, now: number): Entry | undefined {
    const key = machineKey(ref);
    const candidates = [this.store.read(key), this.listed.read(key)].filter((entry): entry is Entry => entry !== undefined && entry.readAt <= now);
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

  /**
   * The machine as a list of its group shows it, listing the group when no young list is there.
   * undefined when the list does not show it, or it has been in doubt since the list began: it is
   * then read alone.
   */
  private fromList(ref: MachineRef, list: MachineList): Promise<Machine | undefined> {
    const group = machineGroupKey(ref);
    return withLock(`vm-list-${group}`, { dir: this.dir, timeoutMs: this.lockTimeoutMs }, async () => {
      const now = Date.now();
      const fresh = this.peek(ref, now);
      if (fresh !== undefined) return fresh;
      const current = this.groups.read(group);
      if (current !== undefined && current.readAt <= now && now - current.readAt < this.maxAgeMs) return undefined;
      const shown = new Map((await list()).map((machine) => [machineKey(machine.ref), machine]));
      for (const [key, machine] of shown) this.listed.write(key, { readAt: now, machine });
      // A machine the last list showed and this one does not is gone: its entries go with it.
      for (const gone of (current?.members ?? []).filter((key) => !shown.has(key))) {
        this.listed.delete(gone);
        this.store.delete(gone);
      }
      this.groups.write(group, { readAt: now, members: [...shown.keys()] });
      // What the list shows, unless an update left something newer (its result, or a doubt).
      return shown.has(machineKey(ref)) ? this.newest(ref, Date.now())?.machine : undefined;
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

  /** A read that started before an update finished (or a doubt was cast) must not replace what it left. */
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

  /**
   * The machine is in doubt (an update failed, or it is gone): no entry older than now serves it,
   * not even one that a list still in flight writes. Its listed entry goes too, so that the doubt
   * holds even if the clock steps back and the mark looks dated in the future.
   */
  invalidate(ref: MachineRef): void {
    const key = machineKey(ref);
    this.store.write(key, { readAt: Date.now() });
    this.listed.delete(key);
  }
}
