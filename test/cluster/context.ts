// What the vitest globalSetup files hand to the test workers (via provide/inject).
export interface ClusterContext {
  level: 'a' | 'b';
  kubeconfigPath: string;
  server: string;
}

export const CLUSTER_CONTEXT_KEY = 'kgitopsCluster' as const;

declare module 'vitest' {
  export interface ProvidedContext {
    kgitopsCluster: ClusterContext;
  }
}
