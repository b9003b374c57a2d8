// Server-side apply that sends the object exactly as given.
//
// KubernetesObjectApi.patch() runs built-in kinds through client-node's typed serializer, which
// silently drops keys its models spell differently (a CRD's `x-kubernetes-int-or-string`,
// `x-kubernetes-preserve-unknown-fields`, ... are lost, so the API server rejects the CRD).
// This helper only borrows its URL resolution (discovery) and auth, and sends plain JSON.
import * as https from 'node:https';
import * as k8s from '@kubernetes/client-node';

class PathResolver extends k8s.KubernetesObjectApi {
  resolve(obj: k8s.KubernetesObject): Promise<string> {
    return this.specUriPath(obj, 'patch');
  }
}

/** Error shaped like client-node's ApiException: `code` is the HTTP status, `body` the parsed Status. */
export class ApplyError extends Error {
  constructor(
    public code: number,
    public body: k8s.V1Status,
  ) {
    super(`server-side apply failed (HTTP ${code}): ${body?.message ?? JSON.stringify(body)}`);
    this.name = 'ApplyError';
  }
}

const resolvers = new WeakMap<k8s.KubeConfig, PathResolver>();

export async function rawApply<T extends k8s.KubernetesObject>(
  kc: k8s.KubeConfig,
  obj: T,
  opts: { fieldManager: string; force?: boolean; dryRun?: boolean },
): Promise<T> {
  let resolver = resolvers.get(kc);
  if (!resolver) {
    resolver = kc.makeApiClient(PathResolver);
    resolvers.set(kc, resolver);
  }
  const server = kc.getCurrentCluster()?.server;
  if (!server) throw new Error('kubeconfig has no current cluster');
  const url = new URL(server.replace(/\/$/, '') + (await resolver.resolve(obj)));
  url.searchParams.set('fieldManager', opts.fieldManager);
  if (opts.force) url.searchParams.set('force', 'true');
  if (opts.dryRun) url.searchParams.set('dryRun', 'All');
  const body = JSON.stringify(obj); // JSON is YAML: valid for application/apply-patch+yaml
  const reqOpts: https.RequestOptions = {
    method: 'PATCH',
    headers: { 'Content-Type': 'application/apply-patch+yaml', Accept: 'application/json' },
  };
  await kc.applyToHTTPSOptions(reqOpts);
  return new Promise<T>((resolve, reject) => {
    const req = https.request(url, reqOpts, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (text += c));
      res.on('end', () => {
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = { message: text };
        }
        const code = res.statusCode ?? 0;
        if (code >= 200 && code < 300) resolve(parsed as T);
        else reject(new ApplyError(code, parsed as k8s.V1Status));
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}
