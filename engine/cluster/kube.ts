/**
 * KubeCluster: the Cluster interface over a real apiserver's HTTP API.
 *
 * Auth and TLS come from @kubernetes/client-node's KubeConfig (kubeconfig files, contexts,
 * in-cluster service accounts, exec plugins); requests are plain JSON over one keep-alive
 * agent, so that errors keep their Status body and headers (Retry-After) and every failure
 * maps to a type in ./errors.ts. Idempotent requests (GET, LIST, server-side apply, DELETE)
 * are retried on 429/5xx/connection errors.
 */
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { request as httpRequest } from 'node:http';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeconfigError, type LoadedKubeconfig, loadKubeconfig, oneLine } from './kubeconfig.js';
import {
  ApiError, type Conflict, ConflictError, forbiddenError, NotServedError, RequestError, type RequestInfo, TransientError,
  UnauthorizedError, withRetry, type RetryOptions,
} from './errors.js';
import {
  type ApplyOptions, type Cluster, type DeleteOptions, type EventInput, groupOf, type KubeObject, type ListOptions, type ListResult,
  type ObjectKey, type ResourceInfo, type UserIdentity, type WatchEvent, type WatchHandle, type WatchOptions,
} from './types.js';

export interface KubeClusterOptions {
  /** Kubeconfig file; unset: $KUBECONFIG, ~/.kube/config, or in-cluster. */
  readonly kubeconfig?: string;
  /** Context in the kubeconfig. @default the current context */
  readonly context?: string;
  /** Per-request timeout. @default 30 s */
  readonly timeoutMs?: number;
  /** Requests in flight at once. @default 16 */
  readonly concurrency?: number;
  readonly retry?: RetryOptions;
  /** Component name in Events and the user agent. @default kgitops */
  readonly component?: string;
  /**
   * This process among several of the component (a controller replica): in the user agent and
   * Events' reportingInstance, so that the apiserver's audit log says which replica wrote.
   */
  readonly instance?: string;
  /**
   * Called after every request attempt with its verb and HTTP status (0: no answer), and before
   * every retry: what the engine's metrics count. Impersonating clusters share it.
   */
  readonly observer?: RequestObserver;
  /** Requests a second, client-side, once the burst is spent; unset or 0: no limit (the concurrency bound only). */
  readonly qps?: number;
  /** Requests at once before qps applies. @default 2 × qps */
  readonly burst?: number;
  /**
   * Act as this identity on every request (Impersonate-User/-Group headers): the controller
   * reads and writes an App's objects as the App's ServiceAccount, so RBAC decides what a
   * tenant's commit may do. Our own credentials need the `impersonate` verb on it.
   */
  readonly impersonate?: Impersonation;
}

export interface Impersonation {
  /** e.g. system:serviceaccount:team-a:deployer */
  readonly user: string;
  /** Unset: the apiserver gives an impersonated ServiceAccount its usual groups. */
  readonly groups?: readonly string[];
}

/** The user name of a ServiceAccount, as the apiserver authenticates its tokens. */
export function serviceAccountUser(namespace: string, name: string): string {
  return `system:serviceaccount:${namespace}:${name}`;
}

interface SharedConnection {
  baseOptions?: Promise<RequestOptions>;
  /** Discovery per apiVersion, with when it was asked (a miss older than MISS_REFRESH_MS asks again). */
  readonly discovery: Map<string, { readonly at: number; readonly resources: Promise<Map<string, ResourceInfo>> }>;
  inFlight: number;
  readonly waiting: (() => void)[];
  /** Client-side rate limit (qps, burst), shared by every identity of the cluster. */
  limiter?: TokenBucket;
}

/**
 * client-go's token bucket: `burst` requests at once, then `qps` a second. Watches are not
 * counted (they are long-lived), as client-go does not count them either.
 */
export class TokenBucket {
  private tokens: number;
  private last = performance.now();
  private queue = Promise.resolve();

  constructor(private readonly qps: number, private readonly burst: number) {
    this.tokens = burst;
  }

  /** Resolves when the request may go. */
  take(): Promise<void> {
    const turn = this.queue.then(async () => {
      for (;;) {
        const now = performance.now();
        this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.qps);
        this.last = now;
        if (this.tokens >= 1) {
          this.tokens -= 1;
          return;
        }
        await new Promise((r) => setTimeout(r, Math.ceil(((1 - this.tokens) / this.qps) * 1000)));
      }
    });
    this.queue = turn;
    return turn;
  }
}

interface HttpResponse { status: number; headers: Record<string, string | string[] | undefined>; body: string }

type ReqOpts = { method: string; path: string; body?: unknown; contentType?: string; info: RequestInfo; timeoutMs?: number };

export interface RequestObserver {
  /** `resource`: group/plural (with /status), or `discovery` for the API's own paths. */
  onResponse(verb: string, code: number, ms: number, resource: string): void;
  onRetry(verb: string, code: number): void;
}

export class KubeCluster implements Cluster {
  readonly simulated = false;
  readonly name: string;
  private readonly kc: KubeConfig;
  private readonly server: URL;
  /** What every identity of this cluster shares (impersonating()): connections, discovery, request slots. */
  private shared: SharedConnection = { discovery: new Map(), inFlight: 0, waiting: [] };
  private get discovery() { return this.shared.discovery; }

  /**
   * The cluster of the kubeconfig (engine/cluster/kubeconfig.ts: found, read and checked; a
   * KubeconfigError says what is wrong). Sends nothing: see connect().
   */
  static load(options: KubeClusterOptions = {}): KubeCluster {
    const loaded = loadKubeconfig({ kubeconfig: options.kubeconfig, context: options.context });
    return new KubeCluster(loaded.kc, options, loaded);
  }

  /**
   * load(), then one request (GET /version) that shows whether the cluster can be used at all:
   * reachable, its certificate trusted, our credentials accepted. Each way it cannot is a
   * KubeconfigError, at once: a command must not retry for a minute against a closed port.
   */
  static async connect(options: KubeClusterOptions & { probeTimeoutMs?: number } = {}): Promise<KubeCluster> {
    const cluster = KubeCluster.load(options);
    await cluster.probe(options.probeTimeoutMs ?? 5_000);
    return cluster;
  }

  /** @param loaded where the kubeconfig came from, for messages (set by load()). */
  constructor(kc: KubeConfig, private readonly options: KubeClusterOptions = {}, private readonly loaded?: LoadedKubeconfig) {
    this.kc = kc;
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error('the kubeconfig has no current cluster; pass --kubeconfig and --context');
    this.server = new URL(cluster.server);
    if (options.qps && options.qps > 0) this.shared.limiter = new TokenBucket(options.qps, Math.max(1, options.burst ?? options.qps * 2));
    this.name = kc.getCurrentContext() || cluster.name;
  }

  /** Who requests act as: the impersonated user, or undefined for our own credentials. */
  get impersonated(): string | undefined {
    return this.options.impersonate?.user;
  }

  /**
   * The same cluster, every request made as `who` (see KubeClusterOptions.impersonate). It shares
   * our credentials, connections and discovery (what the apiserver serves does not depend on who
   * asks); caching those per identity would cost a TLS handshake and a discovery per App.
   */
  impersonating(who: Impersonation, component?: string): KubeCluster {
    const c = new KubeCluster(this.kc, { ...this.options, impersonate: who, ...(component ? { component } : {}) }, this.loaded);
    c.shared = this.shared;
    return c;
  }

  /**
   * The same cluster and identity with request slots, a rate limit and connections of its own:
   * for the Leases, whose renewals must never wait behind the Apps' requests (a renewal starved
   * past the renew deadline stops a replica's Apps), as controller-runtime gives leader election
   * a client of its own.
   */
  dedicated(): KubeCluster {
    return new KubeCluster(this.kc, this.options, this.loaded);
  }

  /** The component that writes (Events, user agent). */
  get component(): string {
    return this.options.component ?? 'kgitops';
  }

  // --- discovery ---------------------------------------------------------------------------

  async resource(apiVersion: string, kind: string): Promise<ResourceInfo> {
    let r = (await this.discover(apiVersion)).get(kind);
    // A kind that was not served when we last asked may be now (a CRD applied since, e.g. by
    // this very reconcile): a miss asks discovery again, at most once per MISS_REFRESH_MS.
    const cached = this.discovery.get(apiVersion);
    if (!r && cached && Date.now() - cached.at >= KubeCluster.MISS_REFRESH_MS) {
      this.discovery.delete(apiVersion);
      r = (await this.discover(apiVersion)).get(kind);
    }
    if (r) return r;
    throw new NotServedError(apiVersion, kind, await this.servedVersions(apiVersion, kind));
  }

  /** How old a discovery answer must be before a miss asks again. */
  static MISS_REFRESH_MS = 1000;

  private discover(apiVersion: string): Promise<Map<string, ResourceInfo>> {
    let p = this.discovery.get(apiVersion)?.resources;
    if (!p) {
      p = (async () => {
        const path = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
        const map = new Map<string, ResourceInfo>();
        let list: { resources: { name: string; kind: string; namespaced: boolean }[] };
        try {
          list = await this.json({ method: 'GET', path, info: { verb: 'get', resource: path } });
        } catch (e) {
          if (e instanceof RequestError && e.status === 404) return map;
          throw e;
        }
        for (const r of list.resources) {
          if (r.name.includes('/')) continue; // subresources
          map.set(r.kind, { apiVersion, kind: r.kind, plural: r.name, namespaced: r.namespaced });
        }
        return map;
      })();
      const entry = { at: Date.now(), resources: p };
      this.discovery.set(apiVersion, entry);
      p.catch(() => { if (this.discovery.get(apiVersion) === entry) this.discovery.delete(apiVersion); });
    }
    return p;
  }

  /** Forgets discovery (after CRDs were installed). */
  invalidateDiscovery(): void {
    this.discovery.clear();
  }

  private async servedVersions(apiVersion: string, kind: string): Promise<string[]> {
    const group = groupOf(apiVersion);
    if (!group) return [];
    try {
      const g = await this.json<{ versions: { groupVersion: string }[] }>({ method: 'GET', path: `/apis/${group}`, info: { verb: 'get', resource: `/apis/${group}` } });
      const out: string[] = [];
      for (const v of g.versions) {
        if (v.groupVersion !== apiVersion && (await this.discover(v.groupVersion)).has(kind)) out.push(v.groupVersion);
      }
      return out;
    } catch {
      return [];
    }
  }

  private async path(key: { apiVersion: string; kind: string; namespace?: string; name?: string }, subresource?: string): Promise<{ path: string; info: ResourceInfo }> {
    const info = await this.resource(key.apiVersion, key.kind);
    const base = key.apiVersion.includes('/') ? `/apis/${key.apiVersion}` : `/api/${key.apiVersion}`;
    const ns = info.namespaced && key.namespace ? `/namespaces/${encodeURIComponent(key.namespace)}` : '';
    const name = key.name ? `/${encodeURIComponent(key.name)}` : '';
    return { path: `${base}${ns}/${info.plural}${name}${subresource ? `/${subresource}` : ''}`, info };
  }

  private static resourceName(info: ResourceInfo): string {
    const g = groupOf(info.apiVersion);
    return g ? `${g}/${info.plural}` : info.plural;
  }

  // --- objects -------------------------------------------------------------------------------

  async get(key: ObjectKey): Promise<KubeObject | undefined> {
    const { path, info } = await this.path(key);
    try {
      return await this.json({ method: 'GET', path, info: { verb: 'get', resource: KubeCluster.resourceName(info), namespace: key.namespace, name: key.name } });
    } catch (e) {
      if (e instanceof RequestError && e.status === 404) return undefined;
      throw e;
    }
  }

  async list(apiVersion: string, kind: string, options: ListOptions = {}): Promise<ListResult> {
    const { path, info } = await this.path({ apiVersion, kind, namespace: options.namespace });
    const items: KubeObject[] = [];
    let cont: string | undefined;
    let resourceVersion = '';
    do {
      const q = new URLSearchParams({ limit: '500' });
      if (options.labelSelector) q.set('labelSelector', options.labelSelector);
      if (cont) q.set('continue', cont);
      const page = await this.json<{ items: KubeObject[]; metadata: { continue?: string; resourceVersion: string } }>({
        method: 'GET', path: `${path}?${q}`, info: { verb: 'list', resource: KubeCluster.resourceName(info), namespace: options.namespace },
      });
      for (const item of page.items) items.push({ ...item, apiVersion, kind });
      cont = page.metadata.continue || undefined;
      resourceVersion = page.metadata.resourceVersion;
    } while (cont);
    return { items, resourceVersion };
  }

  apply(obj: KubeObject, options: ApplyOptions): Promise<KubeObject> {
    return this.applyTo(obj, options);
  }

  applyStatus(obj: KubeObject, options: ApplyOptions): Promise<KubeObject> {
    return this.applyTo(obj, options, 'status');
  }

  private async applyTo(obj: KubeObject, o: ApplyOptions, subresource?: string): Promise<KubeObject> {
    const key = { apiVersion: obj.apiVersion, kind: obj.kind, namespace: obj.metadata.namespace, name: obj.metadata.name };
    const { path, info } = await this.path(key, subresource);
    const q = new URLSearchParams({ fieldManager: o.fieldManager });
    if (o.force) q.set('force', 'true');
    if (o.dryRun) q.set('dryRun', 'All');
    return this.json({
      method: 'PATCH', path: `${path}?${q}`, body: obj, contentType: 'application/apply-patch+yaml',
      info: { verb: o.dryRun ? 'patch (dry run)' : 'patch', resource: KubeCluster.resourceName(info) + (subresource ? `/${subresource}` : ''), namespace: key.namespace, name: key.name },
    });
  }

  async delete(key: ObjectKey, options: DeleteOptions = {}): Promise<boolean> {
    const { path, info } = await this.path(key);
    const q = options.dryRun ? '?dryRun=All' : '';
    const body = {
      kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: options.propagationPolicy ?? 'Background',
      ...(options.uid ? { preconditions: { uid: options.uid } } : {}),
    };
    try {
      await this.json({ method: 'DELETE', path: `${path}${q}`, body, info: { verb: 'delete', resource: KubeCluster.resourceName(info), namespace: key.namespace, name: key.name } });
      return true;
    } catch (e) {
      if (e instanceof RequestError && e.status === 404) return false;
      throw e;
    }
  }

  async watch(apiVersion: string, kind: string, options: WatchOptions, onEvent: (e: WatchEvent) => void): Promise<WatchHandle> {
    const { path, info } = await this.path({ apiVersion, kind, namespace: options.namespace });
    const q = new URLSearchParams({ watch: '1', allowWatchBookmarks: 'true' });
    if (options.labelSelector) q.set('labelSelector', options.labelSelector);
    if (options.resourceVersion) q.set('resourceVersion', options.resourceVersion);
    const reqInfo: RequestInfo = { verb: 'watch', resource: KubeCluster.resourceName(info), namespace: options.namespace };
    const base = await this.requestOptions();
    let stop: () => void = () => {};
    const done = new Promise<void>((resolve, reject) => {
      const req = this.transport()({
        ...base, method: 'GET', path: `${path}?${q}`, timeout: 0,
        headers: { ...base.headers, Accept: 'application/json' },
      }, (res) => {
        if ((res.statusCode ?? 0) >= 400) {
          let body = '';
          res.on('data', (d) => { body += d; });
          res.on('end', () => reject(toApiError({ status: res.statusCode ?? 0, headers: res.headers, body }, reqInfo)));
          return;
        }
        let buffer = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buffer += chunk;
          let nl: number;
          while ((nl = buffer.indexOf('\n')) >= 0) {
            const line = buffer.slice(0, nl).trim();
            buffer = buffer.slice(nl + 1);
            if (!line) continue;
            const ev = JSON.parse(line) as { type: string; object: any };
            if (ev.type === 'ERROR') {
              reject(toApiError({ status: ev.object?.code ?? 500, headers: {}, body: JSON.stringify(ev.object) }, reqInfo));
              req.destroy();
              return;
            }
            if (ev.type === 'BOOKMARK') continue;
            onEvent({ type: ev.type as WatchEvent['type'], object: { ...ev.object, apiVersion, kind } });
          }
        });
        res.on('end', resolve);
        res.on('error', reject);
      });
      req.on('error', (e) => reject(new TransientError(reqInfo, 0, e.message)));
      req.end();
      stop = () => { req.destroy(); resolve(); };
    });
    return { stop: () => stop(), done };
  }

  async event(involved: KubeObject, e: EventInput, component = this.component): Promise<void> {
    const now = new Date().toISOString();
    const namespace = involved.metadata.namespace ?? 'default';
    const body = {
      apiVersion: 'v1', kind: 'Event',
      metadata: { generateName: `${involved.metadata.name}.`, namespace },
      involvedObject: {
        apiVersion: involved.apiVersion, kind: involved.kind, name: involved.metadata.name,
        namespace: involved.metadata.namespace, uid: involved.metadata.uid, resourceVersion: involved.metadata.resourceVersion,
      },
      type: e.type, reason: e.reason, message: e.message.slice(0, 1024),
      source: { component }, reportingComponent: component, reportingInstance: this.options.instance ? `${component}-${this.options.instance}`.slice(0, 128) : component,
      firstTimestamp: now, lastTimestamp: now, count: 1,
    };
    try {
      await this.json({ method: 'POST', path: `/api/v1/namespaces/${encodeURIComponent(namespace)}/events`, body, info: { verb: 'create', resource: 'events', namespace } });
    } catch {
      // Events are best effort: a missing permission must not fail a release.
    }
  }

  /**
   * Who a bearer token is, as the apiserver's authenticators say (a TokenReview; our credentials
   * need `create` on tokenreviews, as system:auth-delegator gives). Undefined: not authenticated.
   */
  async reviewToken(token: string): Promise<UserIdentity | undefined> {
    const review = await this.json<{ status?: { authenticated?: boolean; user?: { username?: string; uid?: string; groups?: string[] } } }>({
      method: 'POST', path: '/apis/authentication.k8s.io/v1/tokenreviews',
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } },
      info: { verb: 'create', resource: 'authentication.k8s.io/tokenreviews' },
    });
    const u = review.status?.user;
    if (!review.status?.authenticated || !u?.username) return undefined;
    return { username: u.username, ...(u.uid ? { uid: u.uid } : {}), groups: u.groups ?? [] };
  }

  /** Whether a user may do something, as the apiserver's authorizers (RBAC) say: a SubjectAccessReview. */
  async reviewAccess(user: UserIdentity, a: { verb: string; group: string; resource: string; namespace?: string; name?: string }): Promise<{ allowed: boolean; reason?: string }> {
    const review = await this.json<{ status?: { allowed?: boolean; denied?: boolean; reason?: string } }>({
      method: 'POST', path: '/apis/authorization.k8s.io/v1/subjectaccessreviews',
      body: {
        apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview',
        spec: { user: user.username, ...(user.uid ? { uid: user.uid } : {}), groups: [...user.groups], resourceAttributes: { ...a } },
      },
      info: { verb: 'create', resource: 'authorization.k8s.io/subjectaccessreviews' },
    });
    return { allowed: review.status?.allowed === true, ...(review.status?.reason ? { reason: review.status.reason } : {}) };
  }

  /**
   * Who the apiserver says our credentials are: a SelfSubjectReview (authentication.k8s.io/v1,
   * Kubernetes 1.28+; v1beta1 on 1.27). Nothing is stored; every authenticated user may create
   * one (ClusterRole system:basic-user).
   */
  async whoAmI(): Promise<UserIdentity> {
    for (const version of ['v1', 'v1beta1']) {
      const resource = 'authentication.k8s.io/selfsubjectreviews';
      try {
        const review = await this.json<{ status?: { userInfo?: { username?: string; uid?: string; groups?: string[] } } }>({
          method: 'POST', path: `/apis/authentication.k8s.io/${version}/selfsubjectreviews`,
          body: { apiVersion: `authentication.k8s.io/${version}`, kind: 'SelfSubjectReview' },
          info: { verb: 'create', resource },
        });
        const user = review.status?.userInfo;
        if (!user?.username) {
          throw new ApiError(`the cluster ${this.name} answered a SelfSubjectReview without a user name: it does not say who we are`, 500, 'NoUser', { verb: 'create', resource },
            'check the kubeconfig user: an anonymous or proxy identity cannot give release commands');
        }
        return { username: user.username, ...(user.uid ? { uid: user.uid } : {}), groups: user.groups ?? [] };
      } catch (e) {
        if (e instanceof RequestError && e.status === 404) continue;
        throw e;
      }
    }
    throw new ApiError(`the cluster ${this.name} does not serve SelfSubjectReview (authentication.k8s.io v1 or v1beta1), so it cannot say who you are`,
      404, 'NotFound', { verb: 'create', resource: 'authentication.k8s.io/selfsubjectreviews' },
      'release commands record who gave them as the cluster authenticates them: use a cluster on Kubernetes 1.27 or newer');
  }

  /**
   * GET /version, once, within `timeoutMs`: every request would fail the same way when the server
   * cannot be reached, its certificate is not trusted or our credentials are refused, so that is
   * said once, as a KubeconfigError naming the context, the server and the kubeconfig. Any other
   * answer (a 5xx while the apiserver starts) is left to the requests that follow, which retry.
   */
  async probe(timeoutMs: number): Promise<void> {
    const where = `the cluster "${this.name}" at ${this.server.origin}${this.loaded ? ` (kubeconfig ${this.loaded.origin})` : ''}`;
    const user = this.loaded?.user ? `user "${this.loaded.user}"` : 'the kubeconfig\'s user';
    try {
      await this.requestOptions();
    } catch (e) {
      // Certificate or key files that do not exist, an exec plugin that is not installed or fails.
      throw new KubeconfigError('Credentials', `cannot use the credentials of ${user} for ${where}: ${oneLine((e as Error).message)}`,
        'check that user\'s entry in the kubeconfig: its client certificate and key, token file or exec plugin (kubectl config view)');
    }
    let res: HttpResponse;
    try {
      res = await this.send({ method: 'GET', path: '/version', info: { verb: 'get', resource: '/version' }, timeoutMs });
    } catch (e) {
      const detail = e instanceof TransientError ? e.message.replace(/^.*?: /, '') : (e as Error).message;
      throw unusableServer(where, oneLine(detail), timeoutMs);
    }
    if (res.status === 401) {
      throw new KubeconfigError('Unauthorized', `${where} rejected the credentials of ${user} (401 Unauthorized)`,
        'the token or client certificate is wrong or has expired: get fresh credentials for this cluster (your provider\'s get-credentials command, or kubectl config set-credentials)');
    }
    if (res.status === 403) {
      throw new KubeconfigError('Forbidden', `${where} does not let ${user} read even its version (403 Forbidden): ${oneLine(toApiError(res, { verb: 'get', resource: '/version' }).message)}`,
        'use credentials this cluster authorizes (a user or service account bound to a role), e.g. another --context');
    }
  }

  // --- HTTP ------------------------------------------------------------------------------------

  private transport() {
    return this.server.protocol === 'http:' ? httpRequest : httpsRequest;
  }

  private async requestOptions(): Promise<RequestOptions> {
    this.shared.baseOptions ??= (async () => {
      const opts: RequestOptions = { headers: {} };
      await this.kc.applyToHTTPSOptions(opts);
      // One keep-alive agent for every request (applyToHTTPSOptions made one with the TLS settings).
      const agent = opts.agent as { keepAlive?: boolean; options?: { keepAlive?: boolean }; maxSockets?: number } | undefined;
      if (agent) {
        agent.keepAlive = true;
        if (agent.options) agent.options.keepAlive = true;
        agent.maxSockets = this.options.concurrency ?? 16;
      }
      return {
        ...opts,
        protocol: this.server.protocol,
        hostname: this.server.hostname,
        port: this.server.port || (this.server.protocol === 'http:' ? 80 : 443),
        headers: { ...opts.headers, 'User-Agent': `${this.component}/0.1.0${this.options.instance ? ` (${this.options.instance})` : ''}` },
      };
    })();
    this.shared.baseOptions.catch(() => { this.shared.baseOptions = undefined; });
    const base = await this.shared.baseOptions;
    const who = this.options.impersonate;
    if (!who) return base;
    // Node sends an array header as one header line per value, as Impersonate-Group wants.
    return { ...base, headers: { ...base.headers, 'Impersonate-User': who.user, ...(who.groups?.length ? { 'Impersonate-Group': [...who.groups] } : {}) } };
  }

  private async slot(): Promise<void> {
    const s = this.shared;
    if (s.inFlight < (this.options.concurrency ?? 16)) { s.inFlight++; return; }
    await new Promise<void>((r) => s.waiting.push(r));
    s.inFlight++;
  }

  private release(): void {
    this.shared.inFlight--;
    this.shared.waiting.shift()?.();
  }

  private async json<T = any>(r: ReqOpts): Promise<T> {
    const observer = this.options.observer;
    const retry = observer ? { ...this.options.retry, onRetry: (e: TransientError, attempt: number, delay: number) => { observer.onRetry(r.info.verb, e.status); this.options.retry?.onRetry?.(e, attempt, delay); } } : this.options.retry;
    return withRetry(async () => {
      await this.shared.limiter?.take();
      await this.slot();
      const t0 = performance.now();
      let code = 0;
      try {
        const res = await this.send(r);
        code = res.status;
        if (res.status >= 200 && res.status < 300) return (res.body ? JSON.parse(res.body) : {}) as T;
        throw toApiError(res, r.info);
      } finally {
        this.release();
        observer?.onResponse(r.info.verb, code, performance.now() - t0, !r.info.resource || r.info.resource.startsWith('/') ? 'discovery' : r.info.resource);
      }
    }, retry);
  }

  private async send(r: ReqOpts): Promise<HttpResponse> {
    const base = await this.requestOptions();
    const pathPrefix = this.server.pathname.replace(/\/$/, '');
    const payload = r.body === undefined ? undefined : JSON.stringify(r.body);
    return new Promise((resolve, reject) => {
      const req = this.transport()({
        ...base,
        method: r.method,
        path: `${pathPrefix}${r.path}`,
        timeout: r.timeoutMs ?? this.options.timeoutMs ?? 30_000,
        headers: {
          ...base.headers,
          Accept: 'application/json',
          ...(payload !== undefined ? { 'Content-Type': r.contentType ?? 'application/json', 'Content-Length': Buffer.byteLength(payload) } : {}),
        },
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', (e) => reject(new TransientError(r.info, 0, e.message)));
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${(r.timeoutMs ?? this.options.timeoutMs ?? 30_000) / 1000} s`)));
      req.on('error', (e) => reject(new TransientError(r.info, 0, (e as NodeJS.ErrnoException).code ? `${(e as NodeJS.ErrnoException).code}: ${e.message}` : e.message)));
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }
}

/** A connection that failed before any answer, as `send` words it (`ECONNREFUSED: connect ...`). */
function unusableServer(where: string, detail: string, timeoutMs: number): KubeconfigError {
  const code = /^([A-Z][A-Z0-9_]+): /.exec(detail)?.[1] ?? '';
  if (/CERT|SSL|TLS|EPROTO/.test(code)) {
    return new KubeconfigError('TLS', `cannot connect securely to ${where}: ${detail}`,
      'the server\'s certificate is not the one the kubeconfig trusts: fix certificate-authority(-data) of that cluster, or export a fresh kubeconfig; an http-only server is not an https:// address');
  }
  if (/^no answer within/.test(detail)) {
    return new KubeconfigError('Timeout', `${where} did not answer within ${timeoutMs / 1000} s`,
      'check the server address, the network (VPN, firewall) and that the apiserver is up (kubectl cluster-info)');
  }
  const reasons: Record<string, string> = {
    ECONNREFUSED: 'connection refused (nothing listens there)',
    ENOTFOUND: 'its host name does not resolve',
    EAI_AGAIN: 'its host name does not resolve (DNS did not answer)',
    EHOSTUNREACH: 'no route to the host',
    ENETUNREACH: 'no route to the network',
    ECONNRESET: 'the connection was reset',
  };
  return new KubeconfigError('Unreachable', `cannot reach ${where}: ${reasons[code] ?? detail}`,
    'check that the apiserver is running and that the kubeconfig\'s server address is right (kubectl cluster-info), or pass another --kubeconfig or --context');
}

interface StatusBody {
  message?: string;
  reason?: string;
  details?: { causes?: { reason?: string; message?: string; field?: string }[]; retryAfterSeconds?: number };
}

/** Maps an HTTP error response to the engine's error types. */
export function toApiError(res: HttpResponse, info: RequestInfo): ApiError {
  let status: StatusBody = {};
  try {
    status = JSON.parse(res.body) as StatusBody;
  } catch {
    status = { message: res.body.slice(0, 500) };
  }
  const detail = status.message ?? `HTTP ${res.status}`;
  switch (true) {
    case res.status === 401:
      return new UnauthorizedError(info, detail);
    case res.status === 403:
      return forbiddenError(info, detail);
    case res.status === 409 && (status.details?.causes ?? []).some((c) => c.reason === 'FieldManagerConflict'):
      return new ConflictError(info, parseConflicts(status), detail);
    case res.status === 409:
      return new ConflictError(info, [], detail);
    case res.status === 429 || res.status >= 500: {
      const header = res.headers['retry-after'];
      const seconds = Number(Array.isArray(header) ? header[0] : header) || status.details?.retryAfterSeconds;
      return new TransientError(info, res.status, detail, seconds ? seconds * 1000 : undefined);
    }
    default:
      return new RequestError(info, res.status, status.reason ?? 'Error', detail);
  }
}

/** `conflict with "kubectl-edit" using apps/v1` + field `.spec.replicas` -> { field, manager }. */
function parseConflicts(status: StatusBody): Conflict[] {
  return (status.details?.causes ?? [])
    .filter((c) => c.reason === 'FieldManagerConflict')
    .map((c) => ({ field: c.field ?? '', manager: /conflict with "([^"]+)"/.exec(c.message ?? '')?.[1] ?? 'unknown' }));
}
