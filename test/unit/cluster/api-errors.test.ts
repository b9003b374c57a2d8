/**
 * toApiError on the Status bodies a real apiserver sends: a 403 is a missing permission only
 * when RBAC says so; ResourceQuota, a namespace being deleted and admission webhooks answer 403
 * too, and each says what it is and what to do.
 */
import { describe, expect, it } from 'vitest';
import { AdmissionDeniedError, ForbiddenError, NamespaceTerminatingError, QuotaExceededError } from '../../../engine/cluster/errors.js';
import { toApiError } from '../../../engine/cluster/kube.js';

const info = { verb: 'patch', resource: 'configmaps', namespace: 'shop', name: 'd' };
const status403 = (message: string) => ({ status: 403, headers: {}, body: JSON.stringify({ kind: 'Status', status: 'Failure', reason: 'Forbidden', code: 403, message }) });

describe('403 answers, told apart', () => {
  it('RBAC: a missing permission, with the verb and resource to grant', () => {
    const e = toApiError(status403('configmaps "d" is forbidden: User "system:serviceaccount:kgitops:engine" cannot patch resource "configmaps" in API group "" in the namespace "shop"'), info);
    expect(e).toBeInstanceOf(ForbiddenError);
    expect(e.message).toMatch(/^missing permission: patch configmaps d in namespace shop is forbidden \(403\)/);
  });

  it('a ResourceQuota: says quota, names it, and how to make room', () => {
    const e = toApiError(status403('configmaps "d" is forbidden: exceeded quota: configmaps, requested: count/configmaps=1, used: count/configmaps=5, limited: count/configmaps=5'), info);
    expect(e).toBeInstanceOf(QuotaExceededError);
    expect(e).toMatchObject({ status: 403, reason: 'QuotaExceeded' });
    expect(e.message).toBe('ResourceQuota configmaps exceeded: patch configmaps d in namespace shop was refused (403): configmaps "d" is forbidden: exceeded quota: configmaps, requested: count/configmaps=1, used: count/configmaps=5, limited: count/configmaps=5');
    expect(e.message).not.toContain('missing permission');
    expect(e.hint).toBe('raise the quota (kubectl describe resourcequota -n shop) or declare fewer or smaller objects in git');
  });

  it('a namespace being deleted, and an admission webhook that denies', () => {
    const t = toApiError(status403('configmaps "d" is forbidden: unable to create new content in namespace shop because it is being terminated'), info);
    expect(t).toBeInstanceOf(NamespaceTerminatingError);
    expect(t.hint).toContain('wait until the namespace is gone');
    const w = toApiError(status403('admission webhook "vcloneset.kb.io" denied the request: spec.replicas: Invalid value'), info);
    expect(w).toBeInstanceOf(AdmissionDeniedError);
    expect(w.message).toBe('admission denied patch configmaps d in namespace shop (403): admission webhook "vcloneset.kb.io" denied the request: spec.replicas: Invalid value');
  });
});
