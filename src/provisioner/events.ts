// Events on claims and volumes: what the provisioner did or why it could not, for
// `kubectl describe`. Messages pass through the log's redaction, so a storage key never lands in one.
import { randomBytes } from 'node:crypto';
import type { CoreV1Event, Kube } from '../kube/client.ts';
import { log, redact } from '../system/log.ts';

export interface EventTarget {
  kind: 'PersistentVolumeClaim' | 'PersistentVolume';
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
}

export class EventRecorder {
  private readonly kube: Kube;
  private readonly component: string;
  private readonly instance: string;

  constructor(kube: Kube, component: string, instance: string) {
    this.kube = kube;
    this.component = component;
    this.instance = instance;
  }

  /** Never throws: an event that cannot be written is logged, and the work goes on. */
  async record(target: EventTarget, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const text = redact(message);
    const now = new Date();
    // Events of cluster-scoped objects live in 'default', as the Kubernetes recorder puts them.
    const namespace = target.namespace ?? 'default';
    const event: CoreV1Event = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: `${target.name}.${now.getTime().toString(16)}${randomBytes(4).toString('hex')}`, namespace },
      involvedObject: {
        apiVersion: 'v1',
        kind: target.kind,
        name: target.name,
        ...(target.namespace && { namespace: target.namespace }),
        ...(target.uid && { uid: target.uid }),
        ...(target.resourceVersion && { resourceVersion: target.resourceVersion }),
      },
      type,
      reason,
      message: text,
      source: { component: this.component },
      reportingComponent: this.component,
      reportingInstance: this.instance,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    };
    log(`event ${type} ${reason} on ${target.kind} ${target.namespace ? `${target.namespace}/` : ''}${target.name}: ${text}`);
    try {
      await this.kube.createEvent(event);
    } catch (error) {
      log(`could not record event ${reason} on ${target.name}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}
