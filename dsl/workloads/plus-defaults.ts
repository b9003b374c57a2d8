/**
 * The defaults cdk8s-plus gives pods and containers that Kubernetes does not: a workload written
 * like a Deployment manifest, without these fields, runs differently from what its author
 * expects (an image that runs as root does not start, a write to / fails, there is no token
 * for the API, and so on). kruise-gitops keeps cdk8s-plus's behaviour but says so once per app.
 */
import type * as kplus from 'cdk8s-plus-33';

/** One default a construct got, and how to opt out of it. */
interface PlusDefault {
  /** `container "web"`, `the pods` or `the selector`. */
  readonly subject: string;
  readonly what: string;
  readonly optOut: string;
}

const byOwner = new WeakMap<object, PlusDefault[]>();

function note(owner: object, d: PlusDefault): void {
  const list = byOwner.get(owner) ?? [];
  if (!list.some((x) => x.subject === d.subject && x.what === d.what)) list.push(d);
  byOwner.set(owner, list);
}

/** Records the defaults a container gets from cdk8s-plus because its props leave them out. */
export function noteContainerDefaults(owner: object, props: kplus.ContainerProps): void {
  const name = `container "${props.name ?? 'main'}"`;
  if (props.resources === undefined) {
    note(owner, {
      subject: name, what: 'requests cpu 1000m, memory 512Mi, limits cpu 1500m, memory 2048Mi',
      optOut: 'set `resources` on the container (`resources: {}` for none)',
    });
  }
  if (props.securityContext?.ensureNonRoot === undefined) {
    note(owner, {
      subject: name, what: 'runAsNonRoot (an image that runs as root does not start)',
      optOut: '`securityContext: { ensureNonRoot: false }` on the container',
    });
  }
  if (props.securityContext?.readOnlyRootFilesystem === undefined) {
    note(owner, {
      subject: name, what: 'a read-only root filesystem',
      optOut: '`securityContext: { readOnlyRootFilesystem: false }` on the container (or mount a volume where it writes)',
    });
  }
  if (props.imagePullPolicy === undefined) {
    note(owner, {
      subject: name, what: 'imagePullPolicy Always (Kubernetes: IfNotPresent for a tagged image)',
      optOut: '`imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT` on the container',
    });
  }
  const port = props.portNumber ?? props.port;
  if (props.startup === undefined && port !== undefined) {
    note(owner, {
      subject: name, what: `a TCP startup probe on port ${port}`,
      optOut: 'set `startup` on the container',
    });
  }
}

/** Records the pod-level defaults a workload gets because its props leave them out. */
export function notePodDefaults(owner: object, props: kplus.WorkloadProps): void {
  if (props.securityContext?.ensureNonRoot === undefined) {
    note(owner, { subject: 'the pods', what: 'runAsNonRoot', optOut: '`securityContext: { ensureNonRoot: false }` on the workload' });
  }
  if (props.automountServiceAccountToken === undefined) {
    note(owner, {
      subject: 'the pods', what: 'no service-account token',
      optOut: '`automountServiceAccountToken: true` on the workload',
    });
  }
}

/** Records that the workload's selector is cdk8s-plus's label derived from its construct path. */
export function noteSelectorLabel(owner: object, label: string, value: string): void {
  note(owner, {
    subject: 'the selector',
    what: `${label}=${value}, from the construct path (renaming or moving the construct changes the selector, and with it which pods the workload owns)`,
    optOut: '`select: false` on the workload with `podMetadata` labels and `workload.select(kplus.LabelSelector.of({ labels }))`',
  });
}

/** The defaults recorded for a construct: its containers' (in the order added), its pods', its selector's. */
export function plusDefaultsOf(owner: object): readonly PlusDefault[] {
  const rank = (d: PlusDefault) => (d.subject.startsWith('container') ? 0 : d.subject === 'the pods' ? 1 : 2);
  return [...byOwner.get(owner) ?? []].sort((a, b) => rank(a) - rank(b));
}

/** `container "web": a, b; the pods: c` */
export function describePlusDefaults(defaults: readonly PlusDefault[]): string {
  const bySubject = new Map<string, string[]>();
  for (const d of defaults) bySubject.set(d.subject, [...bySubject.get(d.subject) ?? [], d.what]);
  return [...bySubject].map(([subject, whats]) => `${subject}: ${whats.join(', ')}`).join('; ');
}
