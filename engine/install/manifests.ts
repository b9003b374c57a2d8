/**
 * The controller's own manifests, as `kgitops install` prints them: synthesized with the
 * project's DSL (a kruise-gitops App of cdk8s ApiObjects) and validated as any app is, against
 * the Kubernetes schemas (dogfooding). Least privilege: the controller reads and writes Apps and
 * their status, writes Events, holds Leases (for HA), and impersonates ServiceAccounts; every
 * object of a tenant is read and written as the tenant, so it needs no right on them, not even
 * on the tenant's repo Secret.
 */
import { ApiObject, Chart } from 'cdk8s';
import { App, type RenderedObject } from '../../dsl/app.js';
import type { Diagnostic } from '../../dsl/diagnostics.js';
import { validateObjects } from '../validate/index.js';
import { APP_GROUP, APP_PLURAL, appCrd } from '../controller/app-resource.js';

export interface InstallOptions {
  /** The controller image (these machines cannot build it: see the Dockerfile). */
  readonly image: string;
  /** @default kgitops-system */
  readonly namespace?: string;
  /** --default-service-account of the controller: the ServiceAccount of Apps that name none. */
  readonly defaultServiceAccount?: string;
  /** A Secret (in the controller's namespace) with key `secret`: the push webhook's HMAC secret. */
  readonly webhookSecretName?: string;
}

export const CONTROLLER_NAME = 'kgitops-controller';
const WEBHOOK_PORT = 8080;
const METRICS_PORT = 9090;
/** The dashboard, on the pod's loopback only: `kubectl port-forward` reaches it, nothing else does. */
const UI_PORT = 8090;

/** The ClusterRole's rules: nothing beyond what engine/controller calls with its own identity. */
export const CONTROLLER_RULES = [
  { apiGroups: [APP_GROUP], resources: [APP_PLURAL], verbs: ['get', 'list', 'watch', 'patch'] },
  { apiGroups: [APP_GROUP], resources: [`${APP_PLURAL}/status`], verbs: ['get', 'patch'] },
  { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
  { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'list', 'create', 'patch'] },
  { apiGroups: [''], resources: ['serviceaccounts'], verbs: ['get', 'impersonate'] },
  // One watch per released kind for all Apps (engine/controller/informers.ts): it only wakes an
  // App's release controller, which reads and writes as the App.
  { apiGroups: ['apps.kruise.io'], resources: ['clonesets', 'statefulsets', 'daemonsets', 'sidecarsets', 'uniteddeployments'], verbs: ['list', 'watch'] },
  // The dashboard asks the cluster who a bearer token is and whether it may give a release
  // command (engine/ui/auth.ts), as system:auth-delegator would let it.
  { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
  { apiGroups: ['authorization.k8s.io'], resources: ['subjectaccessreviews'], verbs: ['create'] },
];

export function installObjects(o: InstallOptions): { objects: RenderedObject[]; diagnostics: Diagnostic[] } {
  const ns = o.namespace ?? 'kgitops-system';
  const labels = { 'app.kubernetes.io/name': CONTROLLER_NAME, 'app.kubernetes.io/part-of': 'kgitops' };
  const app = new App();
  const chart = new Chart(app, 'kgitops');
  new ApiObject(chart, 'crd', appCrd() as never);
  new ApiObject(chart, 'namespace', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels } });
  new ApiObject(chart, 'service-account', { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: CONTROLLER_NAME, namespace: ns, labels } });
  new ApiObject(chart, 'cluster-role', { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: CONTROLLER_NAME, labels }, rules: CONTROLLER_RULES } as never);
  new ApiObject(chart, 'cluster-role-binding', {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: CONTROLLER_NAME, labels },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: CONTROLLER_NAME },
    subjects: [{ kind: 'ServiceAccount', name: CONTROLLER_NAME, namespace: ns }],
  } as never);
  // The fleets' cluster Secrets (kgitops.io/cluster) are in the controller's own namespace: it
  // reads Secrets there, and nowhere else (tenants' Secrets are read as the App).
  new ApiObject(chart, 'clusters-role', {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: `${CONTROLLER_NAME}-clusters`, namespace: ns, labels },
    rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list'] }],
  } as never);
  new ApiObject(chart, 'clusters-role-binding', {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: `${CONTROLLER_NAME}-clusters`, namespace: ns, labels },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: `${CONTROLLER_NAME}-clusters` },
    subjects: [{ kind: 'ServiceAccount', name: CONTROLLER_NAME, namespace: ns }],
  } as never);
  // --leader-elect: a rolling update (or a second replica) never has two controllers acting on one App.
  const args = ['controller', '--leader-elect', '--cache-dir', '/var/cache/kgitops', '--webhook-port', String(WEBHOOK_PORT), '--webhook-host', '0.0.0.0',
    '--metrics-port', String(METRICS_PORT), '--metrics-host', '0.0.0.0', '--ui-port', String(UI_PORT), '--log-format', 'json',
    ...(o.defaultServiceAccount ? ['--default-service-account', o.defaultServiceAccount] : [])];
  new ApiObject(chart, 'deployment', {
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: CONTROLLER_NAME, namespace: ns, labels },
    spec: {
      replicas: 1,
      selector: { matchLabels: { 'app.kubernetes.io/name': CONTROLLER_NAME } },
      template: {
        // The usual scrape annotations (Prometheus' kubernetes-pods job reads them).
        metadata: { labels, annotations: { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(METRICS_PORT), 'prometheus.io/path': '/metrics' } },
        spec: {
          serviceAccountName: CONTROLLER_NAME,
          securityContext: { runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, fsGroup: 10001, seccompProfile: { type: 'RuntimeDefault' } },
          containers: [{
            name: 'controller', image: o.image, args,
            ports: [{ name: 'webhook', containerPort: WEBHOOK_PORT }, { name: 'metrics', containerPort: METRICS_PORT }],
            env: [
              // The replica's name in the Leases, and where they live.
              { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
              { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
              ...(o.webhookSecretName ? [{ name: 'KGITOPS_WEBHOOK_SECRET', valueFrom: { secretKeyRef: { name: o.webhookSecretName, key: 'secret' } } }] : []),
            ],
            readinessProbe: { httpGet: { path: '/readyz', port: 'metrics' }, periodSeconds: 10 },
            livenessProbe: { httpGet: { path: '/healthz', port: 'metrics' }, initialDelaySeconds: 30, periodSeconds: 20 },
            resources: { requests: { cpu: '250m', memory: '256Mi' }, limits: { cpu: '2', memory: '2Gi' } },
            // Restricted, except what the sandbox needs: bubblewrap makes an unprivileged user
            // namespace per synth, which the node must allow (kernel.unprivileged_userns_clone,
            // and a seccomp profile that permits clone(CLONE_NEWUSER); RuntimeDefault does on
            // containerd 1.7+ only with user namespaces enabled). Without it the controller
            // refuses to start: it never runs repo code outside the sandbox.
            securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
            volumeMounts: [{ name: 'cache', mountPath: '/var/cache/kgitops' }, { name: 'tmp', mountPath: '/tmp' }],
          }],
          volumes: [{ name: 'cache', emptyDir: {} }, { name: 'tmp', emptyDir: {} }],
        },
      },
    },
  } as never);
  new ApiObject(chart, 'webhook-service', {
    apiVersion: 'v1', kind: 'Service', metadata: { name: CONTROLLER_NAME, namespace: ns, labels },
    spec: { selector: { 'app.kubernetes.io/name': CONTROLLER_NAME }, ports: [{ name: 'webhook', port: 80, targetPort: 'webhook' }] },
  } as never);
  const rendered = app.render();
  return { objects: [...rendered.objects], diagnostics: [...rendered.diagnostics, ...validateObjects(rendered.objects)] };
}
