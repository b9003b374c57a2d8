/**
 * Who a dashboard token is and what it may do: the cluster decides (TokenReview,
 * SubjectAccessReview), or, in the simulation, one token made at start that stands for a local
 * operator. Verdicts are kept for 10 s so that a page and its live refreshes do not ask the
 * apiserver each time; the cache is keyed by a hash of the token, never the token itself.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { KubeCluster } from '../cluster/kube.js';
import type { UserIdentity } from '../cluster/types.js';
import type { UiAuth } from './server.js';

const TTL_MS = 10_000;

function cached<V>(ttl: number): { get(k: string, make: () => Promise<V>): Promise<V> } {
  const m = new Map<string, { at: number; v: Promise<V> }>();
  return {
    get(k, make) {
      const now = Date.now();
      const hit = m.get(k);
      if (hit && now - hit.at < ttl) return hit.v;
      if (m.size > 1000) m.clear();
      const v = make();
      m.set(k, { at: now, v });
      v.catch(() => m.delete(k));
      return v;
    },
  };
}

const hash = (s: string) => createHash('sha256').update(s).digest('hex');

/** The cluster's authenticators and authorizers, asked with the controller's own credentials. */
export function clusterAuth(cluster: Pick<KubeCluster, 'reviewToken' | 'reviewAccess'>): UiAuth {
  const tokens = cached<UserIdentity | undefined>(TTL_MS);
  const access = cached<{ allowed: boolean; reason?: string }>(TTL_MS);
  return {
    authenticate: (token) => tokens.get(hash(token), () => cluster.reviewToken(token)),
    authorize: (user, a) => access.get(hash(JSON.stringify([user.username, user.groups, a])), () => cluster.reviewAccess(user, a)),
  };
}

/**
 * The simulation has no authenticator: one random token, made when the dashboard starts and kept
 * in a file only its user can read, stands for `user`, who may do everything.
 */
export function localTokenAuth(token: string, user: UserIdentity): UiAuth {
  const want = Buffer.from(hash(token));
  return {
    authenticate: async (t) => (timingSafeEqual(Buffer.from(hash(t)), want) ? user : undefined),
    authorize: async () => ({ allowed: true }),
  };
}
