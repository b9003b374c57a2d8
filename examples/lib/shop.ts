import { Chart, type ChartProps, Duration, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-33';
import { k8s } from 'cdk8s-plus-33';
import { Construct } from 'constructs';
import {
  AdvancedStatefulSet, CloneSet, CloneSetUpdateStrategy, Gate, PodManagement, PodUpdatePolicy, ProtectedOperation, Release,
  StatefulSetUpdateStrategy, Step, UnitedDeployment, UnitedDeploymentTemplate, UpdatePriority,
} from 'kruise-gitops';

/** The shop's Prometheus; metric gates query it. */
const PROMETHEUS = 'http://prometheus.monitoring.svc:9090';

/** No releases from Friday noon to Monday 06:00, Berlin time. */
const NO_WEEKEND_RELEASES = Gate.window.deny('0 12 * * 5', Duration.hours(66), 'Europe/Berlin');

/** Labels every pod of the shop carries, so the logging SidecarSet can find them. */
export const SHOP_LOGGING_LABEL = { 'shop.example.com/logging': 'enabled' };

export class ShopChart extends Chart {
  constructor(scope: Construct, id: string, props: ChartProps) {
    super(scope, id, props);
    new kplus.Namespace(this, 'namespace', { metadata: { name: props.namespace } });

    // The storefront releases in place: images change, pods stay. Pods labelled as canaries
    // update first. A release goes to 10% of the pods, bakes and watches the error ratio, then
    // waits for a person at 50%; never over the weekend. The release owns the partition.
    const storefront = new CloneSet(this, 'storefront', {
      metadata: { name: 'storefront' },
      replicas: 10,
      podMetadata: { labels: { app: 'storefront', ...SHOP_LOGGING_LABEL } },
      release: Release.steps(
        Step.to('10%').gate(
          Gate.podsReady({ minReady: Duration.seconds(30) }),
          Gate.bake(Duration.minutes(10)),
          Gate.metric({
            name: 'error-ratio',
            prometheus: PROMETHEUS,
            query: 'sum(rate(http_requests_total{app="storefront",code=~"5.."}[2m])) / sum(rate(http_requests_total{app="storefront"}[2m]))',
            successCondition: 'result < 0.01',
            interval: Duration.minutes(2),
            count: 5,
          }),
        ),
        Step.to('50%').gate(Gate.podsReady(), Gate.approval()),
        Step.to('100%').gate(Gate.podsReady()),
      ).always(NO_WEEKEND_RELEASES),
      updateStrategy: CloneSetUpdateStrategy.inPlaceIfPossible({
        maxSurge: '20%',
        maxUnavailable: 1,
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
    // At most one storefront pod down at a time, also during in-place updates and evictions
    // (Kruise's PodUnavailableBudget; policies/ require a budget above 3 replicas).
    storefront.budget({ maxUnavailable: 1, protect: [ProtectedOperation.DELETE, ProtectedOperation.EVICT, ProtectedOperation.UPDATE] });

    // The cart runs in three zones, one CloneSet per zone; a release goes zone by zone, each zone
    // only after the previous one's pods are ready and have served for 15 minutes.
    new UnitedDeployment(this, 'cart', {
      metadata: { name: 'cart' },
      replicas: 9,
      podMetadata: { labels: { app: 'cart', ...SHOP_LOGGING_LABEL } },
      release: Release.steps(
        Step.subsets({ 'zone-a': '100%' }).gate(Gate.podsReady(), Gate.bake(Duration.minutes(15))),
        Step.subsets({ 'zone-b': '100%' }).gate(Gate.podsReady(), Gate.bake(Duration.minutes(15))),
        Step.subsets({ 'zone-c': '100%' }).gate(Gate.podsReady()),
      ).always(NO_WEEKEND_RELEASES),
      template: UnitedDeploymentTemplate.cloneSet({
        updateStrategy: CloneSetUpdateStrategy.inPlaceIfPossible({ maxUnavailable: 1 }),
      }),
      subsets: [
        { name: 'zone-a', nodeSelector: [kplus.NodeLabelQuery.is('topology.kubernetes.io/zone', 'zone-a')], replicas: 3 },
        { name: 'zone-b', nodeSelector: [kplus.NodeLabelQuery.is('topology.kubernetes.io/zone', 'zone-b')], replicas: 3 },
        { name: 'zone-c', nodeSelector: [kplus.NodeLabelQuery.is('topology.kubernetes.io/zone', 'zone-c')] },
      ],
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

    // Evictions (node drains) leave at least 7 of the 9 cart pods running.
    new k8s.KubePodDisruptionBudget(this, 'cart-budget', {
      metadata: { name: 'cart' },
      spec: { minAvailable: k8s.IntOrString.fromNumber(7), selector: { matchLabels: { app: 'cart' } } },
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
      // One follower first; then the rest, the leader last (see the order priority).
      release: Release.steps(
        Step.to(1).gate(Gate.podsReady({ minReady: Duration.minutes(1) }), Gate.bake(Duration.minutes(5))),
        Step.to('100%').gate(Gate.podsReady()),
      ),
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
