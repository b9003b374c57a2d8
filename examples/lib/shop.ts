import { Chart, type ChartProps, Duration, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-33';
import { Construct } from 'constructs';
import {
  AdvancedStatefulSet, CloneSet, CloneSetUpdateStrategy, PodManagement, PodUpdatePolicy,
  StatefulSetUpdateStrategy, UnitedDeployment, UnitedDeploymentTemplate, UpdatePriority,
} from 'kruise-gitops';

/** Labels every pod of the shop carries, so the logging SidecarSet can find them. */
export const SHOP_LOGGING_LABEL = { 'shop.example.com/logging': 'enabled' };

export class ShopChart extends Chart {
  constructor(scope: Construct, id: string, props: ChartProps) {
    super(scope, id, props);
    new kplus.Namespace(this, 'namespace', { metadata: { name: props.namespace } });

    // The storefront releases in place: images change, pods stay. Pods labelled as canaries
    // update first; the partition keeps 8 of 10 pods on the old version until a release moves it.
    const storefront = new CloneSet(this, 'storefront', {
      metadata: { name: 'storefront' },
      replicas: 10,
      podMetadata: { labels: { app: 'storefront', ...SHOP_LOGGING_LABEL } },
      updateStrategy: CloneSetUpdateStrategy.inPlaceIfPossible({
        maxSurge: '20%',
        maxUnavailable: 1,
        partition: 8,
        gracePeriod: Duration.seconds(10),
        priority: UpdatePriority.weight(
          { weight: 100, selector: { matchLabels: { 'shop.example.com/release-group': 'canary' } } },
          { weight: 50, selector: { matchLabels: { 'shop.example.com/release-group': 'early' } } },
        ),
      }),
      minReady: Duration.seconds(10),
      progressDeadline: Duration.minutes(10),
      containers: [{
        name: 'web',
        image: 'registry.example.com/shop/storefront:2.14.1',
        portNumber: 8080,
        resources: {
          cpu: { request: kplus.Cpu.millis(250), limit: kplus.Cpu.millis(1000) },
          memory: { request: Size.mebibytes(256), limit: Size.mebibytes(512) },
        },
        readiness: kplus.Probe.fromHttpGet('/healthz', { port: 8080 }),
        envVariables: { CART_URL: kplus.EnvValue.fromValue('http://cart.shop.svc:8080') },
      }],
    });
    storefront.exposeViaService({ name: 'storefront', ports: [{ port: 80, targetPort: 8080 }] });

    // The cart runs in three zones, one CloneSet per zone; each zone has its own partition so a
    // release can go zone by zone.
    new UnitedDeployment(this, 'cart', {
      metadata: { name: 'cart' },
      replicas: 9,
      podMetadata: { labels: { app: 'cart', ...SHOP_LOGGING_LABEL } },
      template: UnitedDeploymentTemplate.cloneSet({
        updateStrategy: CloneSetUpdateStrategy.inPlaceIfPossible({ maxUnavailable: 1 }),
      }),
      subsets: [
        { name: 'zone-a', nodeSelector: [kplus.NodeLabelQuery.is('topology.kubernetes.io/zone', 'zone-a')], replicas: 3 },
        { name: 'zone-b', nodeSelector: [kplus.NodeLabelQuery.is('topology.kubernetes.io/zone', 'zone-b')], replicas: 3 },
        { name: 'zone-c', nodeSelector: [kplus.NodeLabelQuery.is('topology.kubernetes.io/zone', 'zone-c')] },
      ],
      partitions: { 'zone-a': 3, 'zone-b': 3, 'zone-c': 3 },
      containers: [{
        name: 'cart',
        image: 'registry.example.com/shop/cart:1.9.0',
        portNumber: 8080,
        resources: {
          cpu: { request: kplus.Cpu.millis(200), limit: kplus.Cpu.millis(500) },
          memory: { request: Size.mebibytes(128), limit: Size.mebibytes(256) },
        },
      }],
    });

    // Zookeeper: pods start in parallel and update in place. Its role sidecar labels the leader
    // `zookeeper.example.com/update-order: "0"` and followers `"1"`; the larger number updates
    // first, so followers update before the leader and there is one leader election per release.
    const zkService = new kplus.Service(this, 'zookeeper-headless', {
      metadata: { name: 'zookeeper' },
      clusterIP: 'None',
      ports: [{ name: 'client', port: 2181 }, { name: 'peer', port: 2888 }, { name: 'election', port: 3888 }],
    });
    const zookeeper = new AdvancedStatefulSet(this, 'zookeeper', {
      metadata: { name: 'zookeeper' },
      replicas: 3,
      service: zkService,
      podMetadata: { labels: { app: 'zookeeper' } },
      podManagement: PodManagement.parallel({
        maxUnavailable: 1,
        updatePriority: UpdatePriority.order('zookeeper.example.com/update-order'),
      }),
      updateStrategy: StatefulSetUpdateStrategy.rollingUpdate({
        podUpdatePolicy: PodUpdatePolicy.IN_PLACE_IF_POSSIBLE,
        minReady: Duration.seconds(30),
      }),
      volumeClaimRetention: { whenScaled: 'Delete', whenDeleted: 'Retain' },
    });
    const data = zookeeper.addVolumeClaimTemplate({ name: 'data', storage: Size.gibibytes(10) });
    zookeeper.addContainer({
      name: 'zookeeper',
      image: 'registry.example.com/infra/zookeeper:3.9.2',
      ports: [{ number: 2181, name: 'client' }, { number: 2888, name: 'peer' }, { number: 3888, name: 'election' }],
      volumeMounts: [{ path: '/data', volume: data }],
      resources: {
        cpu: { request: kplus.Cpu.millis(500), limit: kplus.Cpu.millis(1000) },
        memory: { request: Size.gibibytes(1), limit: Size.gibibytes(2) },
      },
    });
    zkService.select(zookeeper);
  }
}
