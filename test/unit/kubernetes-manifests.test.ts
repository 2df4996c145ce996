/**
 * deploy/kubernetes/ validated by machine, not by eye: every object against the
 * Kubernetes OpenAPI schema of its kind (kubernetes-models, generated from the Kubernetes
 * OpenAPI spec), Tollgate's own objects against the CRDs' openAPIV3Schema (ajv) and the
 * agent's watch schemas (zod), and the CRDs against the names the agent watches.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { Ajv } from 'ajv';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { ClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import { ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { CustomResourceDefinition } from 'kubernetes-models/apiextensions.k8s.io/v1/CustomResourceDefinition';
import {
  API_GROUP,
  API_VERSION,
  RESOURCES,
  groupResourceSchema,
  ruleResourceSchema,
} from '../../agent/kubernetes/resources.js';
import { parseListenAddress } from '../../agent/http/listen-address.js';

const dir = fileURLToPath(new URL('../../deploy/kubernetes/', import.meta.url));
type Obj = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  spec?: Record<string, unknown>;
  [k: string]: unknown;
};
const objects: { file: string; obj: Obj }[] = readdirSync(dir)
  .filter((f) => f.endsWith('.yaml'))
  .sort()
  .flatMap((file) =>
    YAML.parseAllDocuments(readFileSync(join(dir, file), 'utf8')).map((d) => ({ file, obj: d.toJS() as Obj })),
  );

const MODELS: Record<string, new (o: never) => { validate(): void }> = {
  'v1/Namespace': Namespace,
  'v1/ServiceAccount': ServiceAccount,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': ClusterRoleBinding,
  'apps/v1/DaemonSet': DaemonSet,
  'apiextensions.k8s.io/v1/CustomResourceDefinition': CustomResourceDefinition,
};
const validateK8s = (o: Obj) => new MODELS[`${o.apiVersion}/${o.kind}`]!(o as never).validate();

const crds = objects.filter((x) => x.obj.kind === 'CustomResourceDefinition').map((x) => x.obj);
const crdFor = (kind: string) => crds.find((c) => (c.spec as { names: { kind: string } }).names.kind === kind)!;
const ajv = new Ajv({ strict: false, allErrors: true });
const crSchema = (kind: string) =>
  (crdFor(kind).spec as { versions: { name: string; schema: { openAPIV3Schema: object } }[] }).versions.find(
    (v) => v.name === API_VERSION,
  )!.schema.openAPIV3Schema;
const validateCr = (o: Obj) => {
  const v = ajv.compile(crSchema(o.kind));
  return v(o) ? [] : (v.errors ?? []).map((e) => `${e.instancePath} ${e.message}`);
};

describe('deploy/kubernetes manifests', () => {
  it('every object is a known kind and valid against its Kubernetes OpenAPI schema', () => {
    expect(objects.length).toBeGreaterThanOrEqual(8);
    for (const { file, obj } of objects) {
      if (obj.apiVersion === `${API_GROUP}/${API_VERSION}`) continue;
      expect(MODELS[`${obj.apiVersion}/${obj.kind}`], `${file}: ${obj.apiVersion} ${obj.kind}`).toBeDefined();
      expect(() => validateK8s(obj), `${file}: ${obj.kind} ${obj.metadata.name}`).not.toThrow();
    }
  });

  it('the validator refuses a broken object (it is not a yes-machine)', () => {
    const ds = structuredClone(objects.find((x) => x.obj.kind === 'DaemonSet')!.obj) as Obj & {
      spec: { template: { spec: Record<string, unknown> } };
    };
    ds.spec.template.spec.hostNetwork = 'yes';
    expect(() => validateK8s(ds)).toThrow(/hostNetwork/);
    const crd = structuredClone(crds[0]!) as Obj & { spec: { scope: unknown } };
    delete (crd.spec as Record<string, unknown>).scope;
    expect(() => validateK8s(crd)).toThrow(/scope/);
  });

  it('the CRDs declare what the agent watches', () => {
    for (const r of Object.values(RESOURCES)) {
      const c = crdFor(r.kind);
      expect(c.metadata.name).toBe(`${r.plural}.${API_GROUP}`);
      expect(c.spec).toMatchObject({
        group: API_GROUP,
        scope: 'Cluster',
        names: { kind: r.kind, plural: r.plural, singular: r.singular },
      });
      expect((c.spec as { versions: { name: string; served: boolean; storage: boolean }[] }).versions).toEqual([
        expect.objectContaining({ name: API_VERSION, served: true, storage: true }),
      ]);
    }
    // RBAC grants exactly the watch's verbs on exactly these resources.
    const role = objects.find((x) => x.obj.kind === 'ClusterRole')!.obj as Obj & { rules: unknown[] };
    expect(role.rules).toEqual([
      {
        apiGroups: [API_GROUP],
        resources: Object.values(RESOURCES).map((r) => r.plural),
        verbs: ['get', 'list', 'watch'],
      },
    ]);
  });

  it('example objects pass the CRD schema and the agent schema; bad ones fail both', () => {
    const examples = objects.filter((x) => x.obj.apiVersion === `${API_GROUP}/${API_VERSION}`).map((x) => x.obj);
    expect(examples.map((e) => e.kind).sort()).toEqual([RESOURCES.group.kind, RESOURCES.rule.kind]);
    const agentSchema = (o: Obj) =>
      (o.kind === RESOURCES.group.kind ? groupResourceSchema : ruleResourceSchema).safeParse(o).success;
    for (const e of examples) {
      expect(validateCr(e)).toEqual([]);
      expect(agentSchema(e)).toBe(true);
    }
    const badGroup = { ...examples.find((e) => e.kind === RESOURCES.group.kind)!, spec: { mode: 'enforce' } };
    const badRule = {
      ...examples.find((e) => e.kind === RESOURCES.rule.kind)!,
      spec: { from: 'web', to: 'db', port: 70000, proto: 'tcp' },
    };
    const noProto = { ...badRule, spec: { from: 'web', to: 'db', port: 53 } };
    for (const b of [badGroup, badRule, noProto]) {
      expect(validateCr(b).length, JSON.stringify(b.spec)).toBeGreaterThan(0);
      expect(agentSchema(b)).toBe(false);
    }
  });

  it('the DaemonSet: host network and PIDs, runtime sockets and namespaces mounted, metrics on the node address', () => {
    const ds = objects.find((x) => x.obj.kind === 'DaemonSet')!.obj as Obj & {
      spec: { template: { spec: Record<string, any> } };
    };
    const pod = ds.spec.template.spec;
    expect(pod).toMatchObject({ hostNetwork: true, hostPID: true, serviceAccountName: 'tollgate-agent' });
    const c = pod.containers[0];
    const mounts = Object.fromEntries(c.volumeMounts.map((m: { name: string; mountPath: string }) => [m.mountPath, m]));
    const hostPaths = Object.fromEntries(
      pod.volumes.map((v: { name: string; hostPath: { path: string } }) => [v.name, v.hostPath.path]),
    );
    expect(hostPaths[mounts['/run'].name]).toBe('/run');
    expect(mounts['/run'].mountPropagation).toBe('Bidirectional');
    expect(hostPaths[mounts['/sys/fs/bpf'].name]).toBe('/sys/fs/bpf');
    expect(c.securityContext.privileged).toBe(true);
    // The metrics flag is one the agent accepts once Kubernetes substitutes the node address.
    const metrics = c.args[c.args.indexOf('--metrics') + 1] as string;
    expect(parseListenAddress(metrics.replace('$(NODE_IP)', '198.18.0.5'), '--metrics')).toEqual({
      host: '198.18.0.5',
      port: 9464,
    });
    expect(c.ports).toEqual([{ name: 'metrics', containerPort: 9464, protocol: 'TCP' }]);
  });
});
