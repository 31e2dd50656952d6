// deploy/k8s: `kubectl kustomize` renders the default and each overlay; every rendered object
// validates against the Kubernetes schemas (kubernetes-models: the API's OpenAPI types, required
// fields and formats; its TypeScript interfaces, for fields the API does not have, which its
// validators let through); and what the objects say of each other and of the image holds: probes on
// /healthz and /readyz, every ConfigMap, Secret and claim a pod names is rendered, selectors
// match, the container runs as the image's user, the config folder is mounted so that Kubernetes'
// `..data` swap reaches the host, and the config itself is one the host accepts.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import ts from "typescript";
import { parseAllDocuments } from "yaml";
import { hostConfigSchema } from "../core/config.js";
import { ROOT } from "./support.js";

const K8S = join(ROOT, "deploy", "k8s");
type Obj = { apiVersion: string; kind: string; metadata: { name: string; labels?: Record<string, string> }; [k: string]: any };

function render(dir: string): Obj[] {
  const out = execFileSync("kubectl", ["kustomize", join(K8S, dir)], { encoding: "utf8", maxBuffer: 16 * 2 ** 20 });
  return parseAllDocuments(out).map((d) => d.toJSON() as Obj);
}

/** Validates `o` with the kubernetes-models class of its apiVersion and kind; throws naming what is wrong. */
async function validateObject(o: Obj): Promise<void> {
  let Model: new (data: Obj) => { validate(): void };
  try {
    Model = (await import(`kubernetes-models/${o.apiVersion}/${o.kind}`))[o.kind];
  } catch {
    throw new Error(`${o.apiVersion} ${o.kind} ${o.metadata.name}: no such kind in the Kubernetes API`);
  }
  try {
    new Model(o).validate();
  } catch (e) {
    throw new Error(`${o.kind} ${o.metadata.name}: ${(e as Error).message}`);
  }
}

/**
 * Fields the Kubernetes API does not have, in `objects`: each is type-checked as an object literal
 * of its kubernetes-models interface, and TypeScript names every property the interface lacks
 * (the API server refuses those; the JSON-schema validators above let them through).
 */
function unknownFields(objects: Obj[]): string[] {
  // Never written: the compiler reads it from here, and resolves its imports from test/.
  const file = join(ROOT, "test", "rendered-manifests.ts");
  const starts: number[] = [];
  let source = "";
  objects.forEach((o, i) => {
    starts.push(source.length);
    source += `import type { I${o.kind} as T${i} } from "kubernetes-models/${o.apiVersion}/${o.kind}";\nexport const o${i}: T${i} = ${JSON.stringify(o)};\n`;
  });
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const read = host.getSourceFile.bind(host);
  host.getSourceFile = (name, language, ...rest) => (name === file ? ts.createSourceFile(name, source, language) : read(name, language, ...rest));
  return ts.getPreEmitDiagnostics(ts.createProgram([file], options, host)).map((d) => {
    const o = objects[starts.findLastIndex((start) => start <= (d.start ?? 0))];
    return `${o.kind} ${o.metadata.name}: ${ts.flattenDiagnosticMessageText(d.messageText, " ")}`;
  });
}

const only = (objects: Obj[], kind: string, name?: string) => {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  assert.equal(found.length, 1, `one ${kind}${name ? ` ${name}` : ""} in ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(", ")}`);
  return found[0];
};
const hostContainer = (d: Obj) => d.spec.template.spec.containers.find((c: any) => c.name === "hookhost");
const envOf = (c: any, name: string) => c.env.find((e: any) => e.name === name);
const decoded = (secret: Obj, key: string) => Buffer.from(secret.data[key], "base64").toString();
const matches = (selector: Record<string, string>, labels: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v);

/** Secrets the operator makes (README "Deploy"): tokens are never rendered from git. */
const OPERATOR_SECRETS = new Set(["hookhost-tokens"]);

/** Every ConfigMap, Secret and claim the pods name is among the rendered objects, or made by the operator. */
function assertReferencesResolve(objects: Obj[]): void {
  const names = new Set(objects.map((o) => `${o.kind}/${o.metadata.name}`));
  for (const w of objects.filter((o) => o.kind === "Deployment" || o.kind === "StatefulSet")) {
    const pod = w.spec.template.spec;
    for (const v of pod.volumes ?? []) {
      if (v.configMap) assert.ok(names.has(`ConfigMap/${v.configMap.name}`), `${w.metadata.name}: ConfigMap ${v.configMap.name}`);
      if (v.secret) assert.ok(names.has(`Secret/${v.secret.secretName}`) !== OPERATOR_SECRETS.has(v.secret.secretName), `${w.metadata.name}: Secret ${v.secret.secretName}`);
      if (v.persistentVolumeClaim) assert.ok(names.has(`PersistentVolumeClaim/${v.persistentVolumeClaim.claimName}`), `${w.metadata.name}: claim ${v.persistentVolumeClaim.claimName}`);
    }
    const volumeNames = new Set([...(pod.volumes ?? []), ...(w.spec.volumeClaimTemplates ?? []).map((t: any) => t.metadata)].map((v: any) => v.name));
    for (const c of [...pod.containers, ...(pod.initContainers ?? [])]) {
      for (const e of c.env ?? []) if (e.valueFrom?.secretKeyRef) assert.ok(names.has(`Secret/${e.valueFrom.secretKeyRef.name}`), `${c.name}: Secret ${e.valueFrom.secretKeyRef.name}`);
      for (const m of c.volumeMounts ?? []) assert.ok(volumeNames.has(m.name), `${c.name} mounts ${m.name}, which the pod does not have`);
    }
  }
}

/** The Dockerfile's last USER and CMD, which the pod must agree with. */
function image(): { uid: number; cmd: string[]; port: number } {
  const text = readFileSync(join(ROOT, "Dockerfile"), "utf8");
  return {
    uid: Number(/^USER (\d+)/m.exec(text)![1]),
    cmd: JSON.parse(/^CMD (\[.*\])$/m.exec(text)![1]),
    port: Number(/^EXPOSE (\d+)$/m.exec(text)![1]),
  };
}

describe("Kubernetes manifests (deploy/k8s, kustomize)", function () {
  this.timeout(120_000);
  const variants = { default: ".", "overlays/external-redis": "overlays/external-redis", "overlays/git-sync": "overlays/git-sync" };
  const rendered: Record<string, Obj[]> = {};
  before(() => {
    for (const [name, dir] of Object.entries(variants)) rendered[name] = render(dir);
  });

  for (const name of Object.keys(variants)) {
    it(`${name}: every rendered object validates against the Kubernetes schemas, and every reference resolves`, async () => {
      const objects = rendered[name];
      assert.ok(objects.length >= 7, `${objects.length} objects`);
      for (const o of objects) await validateObject(o);
      assert.deepEqual(unknownFields(objects), []);
      assertReferencesResolve(objects);
    });
  }

  it("the validation does reject a broken object", async () => {
    const deployment = structuredClone(only(rendered.default, "Deployment"));
    hostContainer(deployment).resources.requests.memory = "lots";
    await assert.rejects(validateObject(deployment), /memory/);
    delete deployment.spec.selector;
    await assert.rejects(validateObject(deployment), /selector/);
    await assert.rejects(validateObject({ ...deployment, kind: "Deploymnet" }), /no such kind/);
    const misspelt = structuredClone(only(rendered.default, "Deployment"));
    const c = hostContainer(misspelt);
    c.readinesProbe = c.readinessProbe;
    delete c.readinessProbe;
    await validateObject(misspelt); // the JSON-schema validators let it through …
    assert.match(unknownFields([misspelt]).join("\n"), /Deployment hookhost: .*'"?readinesProbe"?' does not exist in type 'IContainer'/); // … the interfaces do not
  });

  it("default: liveness on /healthz, readiness on /readyz, on the image's port, as the image's user and command", () => {
    const objects = rendered.default;
    const deployment = only(objects, "Deployment", "hookhost");
    const c = hostContainer(deployment);
    const { uid, cmd, port } = image();
    const http = c.ports.find((p: any) => p.name === "http");
    assert.equal(http.containerPort, port);
    assert.equal(envOf(c, "PORT").value, String(port));
    assert.equal(envOf(c, "HOST").value, "0.0.0.0");
    assert.deepEqual([c.livenessProbe.httpGet.path, c.livenessProbe.httpGet.port], ["/healthz", "http"]);
    assert.deepEqual([c.readinessProbe.httpGet.path, c.readinessProbe.httpGet.port], ["/readyz", "http"]);
    assert.deepEqual(c.args, cmd);
    assert.equal(deployment.spec.template.spec.securityContext.runAsUser, uid);
    assert.equal(deployment.spec.template.spec.securityContext.runAsNonRoot, true);
    assert.equal(c.securityContext.readOnlyRootFilesystem, true);
  });

  it("default: memory requested above the RSS measured with two lanes under the bench chain (570 MB), the limit above that plus maxSandboxes", () => {
    const objects = rendered.default;
    const c = hostContainer(only(objects, "Deployment"));
    const config = JSON.parse(only(objects, "ConfigMap", "hookhost-config").data["hookhost.json"]);
    assert.equal(config.lanes, 2, "the figures below were measured with two lanes");
    const mib = (q: string) => Number(/^(\d+)Mi$/.exec(q)?.[1] ?? Number(/^(\d+)Gi$/.exec(q)![1]) * 1024);
    assert.ok(mib(c.resources.requests.memory) >= 570, c.resources.requests.memory);
    // ≈ 1.4 MB a sandbox (README "Performance")
    assert.ok(mib(c.resources.limits.memory) >= 570 + config.maxSandboxes * 1.4, c.resources.limits.memory);
    assert.ok(c.resources.requests.cpu, "a CPU request: the HPA's utilization is measured against it");
  });

  it("default: Service, PodDisruptionBudget and HPA select the hookhost pods; the HPA scales on CPU from 2", () => {
    const objects = rendered.default;
    const deployment = only(objects, "Deployment", "hookhost");
    const labels = deployment.spec.template.metadata.labels;
    assert.ok(matches(only(objects, "Service", "hookhost").spec.selector, labels));
    const pdb = only(objects, "PodDisruptionBudget");
    assert.ok(matches(pdb.spec.selector.matchLabels, labels));
    const hpa = only(objects, "HorizontalPodAutoscaler");
    assert.deepEqual(hpa.spec.scaleTargetRef, { apiVersion: "apps/v1", kind: "Deployment", name: "hookhost" });
    assert.equal(hpa.spec.metrics[0].resource.name, "cpu");
    assert.ok(hpa.spec.minReplicas >= 2 && pdb.spec.maxUnavailable < hpa.spec.minReplicas, "a drain never takes every pod");
  });

  it("default: hookhost.json comes from a ConfigMap the host accepts, mounted as a folder under one name, so an update reaches the running host", () => {
    const objects = rendered.default;
    const c = hostContainer(only(objects, "Deployment"));
    const configFile = envOf(c, "HOOKHOST_CONFIG").value as string;
    const mount = c.volumeMounts.find((m: any) => configFile.startsWith(`${m.mountPath}/`));
    assert.ok(mount, `no mount holds ${configFile}`);
    assert.equal(mount.subPath, undefined, "a subPath mount is never updated by Kubernetes");
    const volume = only(objects, "Deployment").spec.template.spec.volumes.find((v: any) => v.name === mount.name);
    const configMap = only(objects, "ConfigMap", volume.configMap.name);
    assert.equal(configMap.metadata.name, "hookhost-config", "no hash suffix: apply updates it in place instead of rolling the pods");
    const file = configFile.slice(mount.mountPath.length + 1);
    const parsed = hostConfigSchema.safeParse(JSON.parse(configMap.data[file]));
    assert.ok(parsed.success, parsed.error?.message);
    for (const tenant of Object.values(parsed.data.tenants)) assert.equal(tenant.token, undefined, "plain tokens belong in a Secret, not a ConfigMap");
  });

  it("default: tokens come from the operator's Secret hookhost-tokens, mounted as a folder that every tokenFile and adminTokenFile of hookhost.json lies in", () => {
    const objects = rendered.default;
    const deployment = only(objects, "Deployment");
    const c = hostContainer(deployment);
    const volume = deployment.spec.template.spec.volumes.find((v: any) => v.secret?.secretName === "hookhost-tokens");
    assert.ok(volume, "no volume of the Secret hookhost-tokens");
    const mount = c.volumeMounts.find((m: any) => m.name === volume.name);
    assert.ok(mount && mount.subPath === undefined && mount.readOnly, "the Secret is mounted read-only as a folder (a subPath mount is never updated)");
    const configMap = only(objects, "ConfigMap", "hookhost-config");
    const config = hostConfigSchema.parse(JSON.parse(configMap.data["hookhost.json"]));
    const files = [config.adminTokenFile, ...Object.values(config.tenants).map((t) => t.tokenFile)];
    assert.ok(files.length > 1 && files.every((f) => typeof f === "string" && f.startsWith(`${mount.mountPath}/`)), `token files outside ${mount.mountPath}: ${files.join(", ")}`);
    assert.equal(config.adminToken, undefined);
  });

  it("default: ctx.store's Redis URL comes from a Secret and names the Redis StatefulSet's Service", () => {
    const objects = rendered.default;
    const ref = envOf(hostContainer(only(objects, "Deployment")), "HOOKHOST_REDIS_URL").valueFrom.secretKeyRef;
    const url = new URL(decoded(only(objects, "Secret", ref.name), ref.key));
    const service = only(objects, "Service", url.hostname);
    assert.equal(service.spec.ports[0].port, Number(url.port));
    const redis = only(objects, "StatefulSet", service.spec.selector["app.kubernetes.io/name"]);
    assert.ok(matches(service.spec.selector, redis.spec.template.metadata.labels));
    assert.ok(redis.spec.template.spec.containers[0].args.includes("noeviction"));
    // no password: the NetworkPolicy lets only the hookhost pods in
    const policy = only(objects, "NetworkPolicy", "hookhost-redis");
    assert.ok(matches(policy.spec.podSelector.matchLabels, redis.spec.template.metadata.labels));
    const from = policy.spec.ingress[0].from[0].podSelector.matchLabels;
    assert.ok(matches(from, only(objects, "Deployment", "hookhost").spec.template.metadata.labels));
    assert.deepEqual(policy.spec.ingress[0].ports, [{ port: Number(url.port) }]);
  });

  it("overlays/external-redis: no Redis of its own; the URL is the one in redis-url.txt", () => {
    const objects = rendered["overlays/external-redis"];
    assert.equal(objects.filter((o) => o.kind === "StatefulSet" || o.metadata.name === "hookhost-redis").length, 0);
    const ref = envOf(hostContainer(only(objects, "Deployment")), "HOOKHOST_REDIS_URL").valueFrom.secretKeyRef;
    assert.equal(decoded(only(objects, "Secret", ref.name), ref.key), readFileSync(join(K8S, "overlays/external-redis/redis-url.txt"), "utf8"));
  });

  it("overlays/git-sync: a git-sync sidecar fills an emptyDir, and the host's plugins folder is git-sync's link in it", () => {
    const objects = rendered["overlays/git-sync"];
    assert.equal(objects.filter((o) => o.kind === "PersistentVolumeClaim").length, 0);
    const pod = only(objects, "Deployment").spec.template.spec;
    const sync = pod.initContainers.find((c: any) => c.name === "git-sync");
    assert.equal(sync.restartPolicy, "Always", "a native sidecar: it runs for the pod's whole life");
    assert.equal(String(sync.startupProbe.httpGet.port), "git-sync", "the host starts after the first sync: without its plugins folder it would not start");
    assert.equal(sync.ports.find((p: any) => p.name === "git-sync").containerPort, Number(envOf(sync, "GITSYNC_HTTP_BIND").value.replace(/^.*:/, "")));
    const root = envOf(sync, "GITSYNC_ROOT").value;
    const syncMount = sync.volumeMounts.find((m: any) => m.mountPath === root);
    assert.ok(pod.volumes.find((v: any) => v.name === syncMount.name).emptyDir);
    const host = hostContainer(only(objects, "Deployment"));
    const hostMount = host.volumeMounts.find((m: any) => m.name === syncMount.name);
    assert.equal(hostMount.readOnly, true);
    assert.equal(envOf(host, "HOOKHOST_PLUGINS").value, `${hostMount.mountPath}/${envOf(sync, "GITSYNC_LINK").value}`);
  });
});
