/**
 * Kubernetes API failures, each as a type the engine handles deliberately:
 *   401 Unauthorized, 403 Forbidden  -> say which verb on which resource is missing; not retried
 *   403 from quota, a terminating namespace or a webhook -> say that (forbiddenError), not RBAC
 *   404 for a kind                    -> NotServedError: "OpenKruise is not installed or too old"
 *   409 apply conflict                -> ConflictError naming the other field managers
 *   429, 5xx, connection errors       -> TransientError, retried with backoff (withRetry)
 */

export interface Conflict {
  /** JSON path of the field, e.g. `.spec.replicas`. */
  readonly field: string;
  /** The field manager that owns it. */
  readonly manager: string;
}

export interface RequestInfo {
  readonly verb: string;
  /** e.g. `apps.kruise.io/clonesets` or `configmaps` */
  readonly resource?: string;
  readonly namespace?: string;
  readonly name?: string;
}

function where(r: RequestInfo): string {
  const res = r.resource ?? 'the API';
  return `${r.verb} ${res}${r.name ? ` ${r.name}` : ''}${r.namespace ? ` in namespace ${r.namespace}` : ''}`;
}

export class ApiError extends Error {
  constructor(
    message: string,
    public readonly status: number,
    public readonly reason: string,
    public readonly request: RequestInfo,
    public readonly hint?: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** 401: the credentials are not accepted at all. */
export class UnauthorizedError extends ApiError {
  constructor(request: RequestInfo, detail: string) {
    super(`the cluster rejected our credentials (401) for ${where(request)}: ${detail}`, 401, 'Unauthorized', request,
      'check the kubeconfig user or token; an expired token must be refreshed');
    this.name = 'UnauthorizedError';
  }
}

/**
 * What RBAC's denial says: `User "system:serviceaccount:team-a:deployer" cannot create resource
 * "configmaps" in API group "" in the namespace "kube-system"`. The verb is the one the apiserver
 * checked, which is not always the request's (a server-side apply of a new object needs create).
 */
export function parseRbacDenial(detail: string): { user: string; verb: string } | undefined {
  const m = /[Uu]ser "([^"]+)" cannot (\S+) resource/.exec(detail);
  return m ? { user: m[1], verb: m[2] } : undefined;
}

/** 403: authenticated, but RBAC does not allow the verb on the resource. */
export class ForbiddenError extends ApiError {
  /** The user the apiserver saw (impersonated or not), when its message names one. */
  readonly user?: string;
  /** The verb RBAC denied, as the apiserver names it (else the request's, without "(dry run)"). */
  readonly deniedVerb: string;

  constructor(request: RequestInfo, detail: string) {
    const denial = parseRbacDenial(detail);
    const verb = denial?.verb ?? request.verb.replace(/ \(dry run\)$/, '');
    super(`missing permission: ${where(request)} is forbidden (403): ${detail}`, 403, 'Forbidden', request,
      `grant the verb "${verb}" on ${request.resource ?? 'this resource'} to the engine's user (a Role or ClusterRole and a binding)`);
    this.name = 'ForbiddenError';
    this.deniedVerb = verb;
    if (denial) this.user = denial.user;
  }
}

/**
 * 403 from the ResourceQuota admission plugin: the namespace's quota does not allow the object
 * (a count or a resource sum). Not a permission problem, and not retried: it fails the same way
 * until the quota or the objects change.
 */
export class QuotaExceededError extends ApiError {
  constructor(request: RequestInfo, detail: string) {
    const quota = /exceeded quota: ([^,]+)/.exec(detail)?.[1];
    super(`ResourceQuota${quota ? ` ${quota}` : ''} exceeded: ${where(request)} was refused (403): ${detail}`, 403, 'QuotaExceeded', request,
      `raise the quota (kubectl describe resourcequota${request.namespace ? ` -n ${request.namespace}` : ''}) or declare fewer or smaller objects in git`);
    this.name = 'QuotaExceededError';
  }
}

/** 403 because the namespace is being deleted: nothing new can be created in it until it is gone. */
export class NamespaceTerminatingError extends ApiError {
  constructor(request: RequestInfo, detail: string) {
    super(`namespace ${request.namespace ?? ''} is being deleted: ${where(request)} was refused (403): ${detail}`, 403, 'NamespaceTerminating', request,
      'wait until the namespace is gone; the next reconcile creates it again');
    this.name = 'NamespaceTerminatingError';
  }
}

/** An admission webhook (or policy) denied the request: its message says why. */
export class AdmissionDeniedError extends ApiError {
  constructor(request: RequestInfo, status: number, detail: string) {
    super(`admission denied ${where(request)} (${status}): ${detail}`, status, 'AdmissionDenied', request,
      'the cluster\'s admission webhooks or policies rejected the object: change it in git, or ask the owner of that policy');
    this.name = 'AdmissionDeniedError';
  }
}

/**
 * A 403 is a missing permission only when RBAC says so; ResourceQuota, a namespace being deleted
 * and admission webhooks answer 403 too, and each needs a different fix.
 */
export function forbiddenError(request: RequestInfo, detail: string): ApiError {
  if (/exceeded quota/.test(detail)) return new QuotaExceededError(request, detail);
  if (/because it is being terminated/.test(detail)) return new NamespaceTerminatingError(request, detail);
  if (/admission webhook "[^"]*" denied the request|denied request:/.test(detail) && !/cannot \S+ resource/.test(detail)) {
    return new AdmissionDeniedError(request, 403, detail);
  }
  return new ForbiddenError(request, detail);
}

/** The apiVersion/kind is not served: its CRD is missing or too old. */
export class NotServedError extends ApiError {
  constructor(public readonly apiVersion: string, public readonly kind: string, served: string[] = []) {
    const kruise = apiVersion.startsWith('apps.kruise.io/') || apiVersion.startsWith('policy.kruise.io/');
    super(
      kruise
        ? `OpenKruise is not installed or too old: ${apiVersion} ${kind} is not served`
        : `${apiVersion} ${kind} is not served by this cluster`,
      404, 'NotFound', { verb: 'discover', resource: `${apiVersion}/${kind}` },
      served.length
        ? `the cluster serves ${kind} as ${served.join(', ')}`
        : kruise ? 'install OpenKruise v1.9 (helm install kruise openkruise/kruise --version 1.9.0)' : 'install the CRD that defines this kind first',
    );
    this.name = 'NotServedError';
  }
}

/** 409 from a server-side apply: fields owned by other managers. */
export class ConflictError extends ApiError {
  constructor(request: RequestInfo, public readonly conflicts: Conflict[], detail: string) {
    const managers = [...new Set(conflicts.map((c) => c.manager))];
    super(
      conflicts.length
        ? `apply conflict on ${where(request)}: ${conflicts.map((c) => `${c.field} is owned by "${c.manager}"`).join(', ')}`
        : `conflict on ${where(request)}: ${detail}`,
      409, 'Conflict', request,
      managers.length
        ? `another field manager (${managers.join(', ')}) set these fields; remove them from git, or let kgitops take them over with --force-conflicts`
        : 'the object changed while we wrote it; the next reconcile retries',
    );
    this.name = 'ConflictError';
  }
}

/** 429, 5xx, timeouts and connection failures: retried. */
export class TransientError extends ApiError {
  constructor(request: RequestInfo, status: number, detail: string, public readonly retryAfterMs?: number) {
    super(`${status ? `HTTP ${status}` : 'connection failure'} for ${where(request)}: ${detail}`, status, status === 429 ? 'TooManyRequests' : 'ServerError', request,
      'retried with backoff; if it persists, check the apiserver');
    this.name = 'TransientError';
  }
}

/** Any other 4xx: invalid object (422), bad request (400), gone (410), ... */
export class RequestError extends ApiError {
  constructor(request: RequestInfo, status: number, reason: string, detail: string) {
    super(`${where(request)} failed (${status} ${reason}): ${detail}`, status, reason, request);
    this.name = 'RequestError';
  }
}

export interface RetryOptions {
  /** Attempts in all, including the first. @default 6 */
  readonly attempts?: number;
  /** @default 200 ms */
  readonly baseDelayMs?: number;
  /** @default 10 s */
  readonly maxDelayMs?: number;
  readonly signal?: AbortSignal;
  /** Called before each retry (for logs and tests). */
  readonly onRetry?: (error: TransientError, attempt: number, delayMs: number) => void;
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(); }, ms);
    const onAbort = () => { clearTimeout(t); reject(signal!.reason); };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Runs `fn`, retrying TransientErrors with exponential backoff and full jitter, honouring
 * Retry-After. Other errors are thrown at once.
 */
export async function withRetry<T>(fn: () => Promise<T>, o: RetryOptions = {}): Promise<T> {
  const attempts = o.attempts ?? 6;
  const base = o.baseDelayMs ?? 200;
  const max = o.maxDelayMs ?? 10_000;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      if (!(e instanceof TransientError) || attempt >= attempts) throw e;
      const backoff = Math.min(max, base * 2 ** (attempt - 1));
      const delay = Math.max(e.retryAfterMs ?? 0, Math.round(backoff / 2 + Math.random() * (backoff / 2)));
      o.onRetry?.(e, attempt, delay);
      await (o.sleep ?? sleep)(delay, o.signal);
    }
  }
}

/** What is wrong with the kubeconfig or with the cluster it leads to; stable, for -o json. */
export type KubeconfigProblem =
  | 'NoKubeconfig' | 'NotFound' | 'Unreadable' | 'InvalidYaml' | 'Invalid'
  | 'NoContext' | 'UnknownContext' | 'UnknownCluster' | 'UnknownUser' | 'BadServer' | 'InsecureServer'
  | 'Credentials' | 'Unreachable' | 'Timeout' | 'TLS' | 'Unauthorized' | 'Forbidden';

/** A kubeconfig that cannot be used, or a cluster it leads to that cannot be used with it. */
export class KubeconfigError extends Error {
  constructor(readonly problem: KubeconfigProblem, message: string, readonly hint: string) {
    super(message);
    this.name = 'KubeconfigError';
  }
}

/** Library and system messages can span lines; ours never do. */
export function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').trim();
}
