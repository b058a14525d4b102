// One leader for the whole controller through a coordination.k8s.io/v1 Lease (docs/provisioner.md
// §6): acquire when the lease is free or expired, renew every retry period, and count as lost
// once a renewal has not succeeded within the renew deadline. Every write carries the
// resourceVersion it read, so two replicas can never both win.
import { setTimeout as sleep } from 'node:timers/promises';
import { describeKubeError, V1MicroTime, type Kube, type V1Lease } from '../kube/client.ts';

export interface LeaderOptions {
  kube: Kube;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  log: (message: string) => void;
}

function expired(lease: V1Lease, now: number): boolean {
  const spec = lease.spec ?? {};
  const renewed = spec.renewTime ?? spec.acquireTime;
  if (spec.holderIdentity === undefined || spec.holderIdentity === '' || renewed === undefined) return true;
  return new Date(renewed).getTime() + (spec.leaseDurationSeconds ?? 0) * 1000 < now;
}

export class LeaderElector {
  private readonly options: LeaderOptions;
  private lease: V1Lease | undefined;
  private stopped = false;

  constructor(options: LeaderOptions) {
    this.options = options;
  }

  private spec(acquired: boolean, previous: V1Lease | undefined): V1Lease['spec'] {
    // A Lease's times are MicroTime: the API server parses exactly six fractional digits.
    const now = new V1MicroTime();
    const transitions = previous?.spec?.leaseTransitions ?? 0;
    return {
      holderIdentity: this.options.identity,
      leaseDurationSeconds: Math.ceil(this.options.leaseDurationMs / 1000),
      acquireTime: acquired || previous?.spec?.acquireTime === undefined ? now : new V1MicroTime(previous.spec.acquireTime),
      renewTime: now,
      leaseTransitions: acquired && previous !== undefined ? transitions + 1 : transitions,
    };
  }

  /** One attempt to take or keep the lease; true while we hold it. */
  private async tryAcquireOrRenew(): Promise<boolean> {
    const { kube, namespace, name, identity } = this.options;
    const current = await kube.readLease(namespace, name);
    if (current === undefined) {
      this.lease = await kube.createLease(namespace, { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace }, spec: this.spec(true, undefined) });
      return this.lease !== undefined;
    }
    const ours = current.spec?.holderIdentity === identity;
    if (!ours && !expired(current, Date.now())) return false;
    this.lease = await kube.replaceLease(namespace, { ...current, metadata: { ...current.metadata, name }, spec: this.spec(!ours, current) });
    return this.lease !== undefined;
  }

  /** True once this replica holds the lease; false if it was stopped first. */
  async acquire(): Promise<boolean> {
    let waitingLogged = false;
    while (!this.stopped) {
      try {
        if (await this.tryAcquireOrRenew()) {
          this.options.log(`became the leader (lease ${this.options.namespace}/${this.options.name}, identity ${this.options.identity})`);
          return true;
        }
        if (!waitingLogged) this.options.log(`lease ${this.options.namespace}/${this.options.name} is held by another replica; standing by`);
        waitingLogged = true;
      } catch (error) {
        this.options.log(`lease ${this.options.namespace}/${this.options.name}: ${describeKubeError(error)}`);
      }
      await sleep(this.options.retryPeriodMs);
    }
    return false;
  }

  /** Renews until a renewal fails for the whole renew deadline (or the lease is taken); then resolves. */
  async holdUntilLost(): Promise<string> {
    let lastRenewal = Date.now();
    while (!this.stopped) {
      await sleep(this.options.retryPeriodMs);
      if (this.stopped) break;
      try {
        if (await this.tryAcquireOrRenew()) {
          lastRenewal = Date.now();
          continue;
        }
        return 'another replica holds the lease';
      } catch (error) {
        this.options.log(`renewing the lease failed: ${describeKubeError(error)}`);
      }
      if (Date.now() - lastRenewal > this.options.renewDeadlineMs) return `the lease was not renewed within ${this.options.renewDeadlineMs} ms`;
    }
    return 'stopped';
  }

  /** Ends the attempts to acquire or renew. */
  stop(): void {
    this.stopped = true;
  }

  /** Gives the lease up at shutdown, so the other replica need not wait for it to expire. */
  async release(): Promise<void> {
    this.stop();
    const lease = this.lease;
    if (lease?.spec?.holderIdentity !== this.options.identity) return;
    const { kube, namespace, name } = this.options;
    try {
      await kube.replaceLease(namespace, { ...lease, metadata: { ...lease.metadata, name }, spec: { ...lease.spec, holderIdentity: '', acquireTime: undefined, renewTime: undefined, leaseDurationSeconds: 1 } });
    } catch (error) {
      this.options.log(`releasing the lease failed: ${describeKubeError(error)}`);
    }
  }
}
