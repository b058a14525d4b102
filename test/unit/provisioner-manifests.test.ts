// install/provisioner.yaml: two replicas on different nodes, probes on /healthz, root with only
// CAP_SYS_ADMIN (azure/nfs mounts the export), the
// Lease namespace from the downward API, and RBAC no wider than what the provisioner calls (the
// integration tests check every request it sends against the same rules).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { manifestRules, requestsOutsideRbac } from '../helpers/cluster.ts';

const FILE = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../install/provisioner.yaml');
type Json = Record<string, any>;
const documents = parseAllDocuments(fs.readFileSync(FILE, 'utf8')).map((document) => document.toJS() as Json);
const of = (kind: string) => documents.filter((document) => document.kind === kind);

test('a Deployment of two replicas, kept apart by anti-affinity, probed on /healthz, as root with only CAP_SYS_ADMIN (the nfs mount)', () => {
  const [deployment] = of('Deployment');
  const pod = deployment!.spec.template.spec;
  const [container] = pod.containers;
  expect(deployment!.spec.replicas).toBe(2);
  expect(pod.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0]).toMatchObject({
    topologyKey: 'kubernetes.io/hostname',
    labelSelector: { matchLabels: deployment!.spec.selector.matchLabels },
  });
  expect(container.args[0]).toBe('provisioner');
  expect(container.livenessProbe.httpGet.path).toBe('/healthz');
  expect(container.readinessProbe.httpGet.path).toBe('/healthz');
  // Root with CAP_SYS_ADMIN alone, for azure/nfs's mount of the export; nothing wider.
  expect(container.args).toContain('--drivers=azuredisk,azurefile,nfs');
  expect(pod.securityContext).toEqual({ runAsNonRoot: false, runAsUser: 0, runAsGroup: 0, seccompProfile: { type: 'RuntimeDefault' } });
  expect(container.securityContext).toEqual({ readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'], add: ['SYS_ADMIN'] }, appArmorProfile: { type: 'Unconfined' } });
  expect(pod.hostNetwork ?? pod.hostPID ?? pod.hostIPC).toBeUndefined();
  expect(pod.volumes.filter((volume: Json) => volume.hostPath !== undefined)).toEqual([]);
  expect(container.env).toEqual(
    expect.arrayContaining([{ name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } }, { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }]),
  );
  expect(pod.serviceAccountName).toBe(of('ServiceAccount')[0]!.metadata.name);
  // The Lease Role lives where the pods do, which is where POD_NAMESPACE puts the Lease.
  expect(of('Role')[0]!.metadata.namespace).toBe(deployment!.metadata.namespace);
  expect(of('RoleBinding')[0]!.subjects[0]).toMatchObject({ name: pod.serviceAccountName, namespace: deployment!.metadata.namespace });
  expect(of('ClusterRoleBinding')[0]!.subjects[0]).toMatchObject({ name: pod.serviceAccountName, namespace: deployment!.metadata.namespace });
});

test('RBAC: claims, classes and nodes are only read; nothing is patched; the Lease is one named Lease', () => {
  const { cluster, namespaced } = manifestRules();
  const verbsOf = (resource: string) => cluster.filter((rule) => rule.resources.includes(resource)).flatMap((rule) => rule.verbs).sort();
  expect(verbsOf('persistentvolumeclaims')).toEqual(['get', 'list', 'watch']);
  expect(verbsOf('persistentvolumes')).toEqual(['create', 'delete', 'get', 'list', 'watch']);
  expect(verbsOf('storageclasses')).toEqual(['get', 'list', 'watch']);
  expect(verbsOf('nodes')).toEqual(['get']);
  expect(verbsOf('events')).toEqual(['create']);
  expect(verbsOf('secrets')).toEqual(['create', 'delete', 'get', 'update']);
  expect(namespaced.flatMap((rule) => rule.resources)).toEqual(['leases', 'leases']);
  expect(namespaced.find((rule) => rule.verbs.includes('update'))?.resourceNames).toEqual(['azure-flexvolume-provisioner']);
});

test('the RBAC check the integration tests use refuses what the rules do not grant', () => {
  const request = (method: string, requestPath: string, watch = false) => ({ method, path: requestPath, query: {}, watch });
  expect(
    requestsOutsideRbac([
      request('GET', '/api/v1/persistentvolumeclaims', true),
      request('POST', '/api/v1/persistentvolumes'),
      request('PUT', '/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/azure-flexvolume-provisioner'),
    ]),
  ).toEqual([]);
  expect(
    requestsOutsideRbac([
      request('PATCH', '/api/v1/namespaces/default/persistentvolumeclaims/data'),
      request('GET', '/api/v1/nodes'),
      request('PUT', '/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/someone-else'),
    ]),
  ).toEqual(['patch /persistentvolumeclaims/data', 'list /nodes', 'update coordination.k8s.io/leases/someone-else']);
});
