// The container image, checked without a Docker engine (none runs here): the Dockerfile parses and
// lints clean, its base is the Node the lockfile carries, the build context its .dockerignore
// leaves holds what the build needs and nothing private, the image runs as a user that cannot
// change its code, and its ENTRYPOINT + CMD, environment and HEALTHCHECK serve hooks when run
// here on this checkout (/app mapped to it, the volumes to temp folders).
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import dockerignoreModule from "@balena/dockerignore";
import { DockerfileParser, type Instruction } from "dockerfile-ast";
import { validate } from "dockerfile-utils";
import { parse as parseYaml } from "yaml";
import { listening, run, TOKEN, volumes, type Service } from "./deploy-support.js";
import { fixture, postHook, ROOT } from "./support.js";

const text = readFileSync(join(ROOT, "Dockerfile"), "utf8");
const dockerfile = DockerfileParser.parse(text);
const finalFrom = dockerfile.getFROMs().at(-1)!.getRange().start.line;
/** The instructions of the final stage (the image), of those in `list`. */
const final = <T extends Instruction>(list: T[]) => list.filter((i) => i.getRange().start.line >= finalFrom);
// The package is CommonJS (module.exports = factory) while its types declare a default export.
const dockerignore = dockerignoreModule as unknown as typeof dockerignoreModule.default;

/** The files `docker build .` sends: every file of the checkout that the .dockerignore keeps. */
function buildContext(): Set<string> {
  const rules = readFileSync(join(ROOT, ".dockerignore"), "utf8");
  const ignore = dockerignore().add(rules);
  // Without `!` exceptions nothing under an ignored folder comes back: node_modules is not walked.
  const exceptions = /^\s*!/m.test(rules);
  const kept = new Set<string>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      const rel = relative(ROOT, path);
      if (entry.isDirectory()) {
        if (exceptions || !ignore.ignores(rel)) walk(path);
      } else if (!ignore.ignores(rel)) kept.add(rel);
    }
  };
  walk(ROOT);
  return kept;
}

/** The JSON array of an exec-form instruction (ENTRYPOINT, CMD, HEALTHCHECK … CMD [...]). */
function execForm(keyword: string): string[] {
  const found = final(dockerfile.getInstructions()).filter((i) => i.getKeyword() === keyword);
  assert.equal(found.length, 1, `one ${keyword} in the final stage`);
  const json = /(\[.*\])\s*$/s.exec(found[0].getArgumentsContent() ?? "");
  assert.ok(json, `${keyword} is in exec form (a JSON array): no shell in between`);
  return JSON.parse(json[1].replace(/\\\n/g, ""));
}

function finalEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of final(dockerfile.getENVs())) for (const p of e.getProperties()) env[p.getName()] = p.getValue() ?? "";
  return env;
}

describe("container image (Dockerfile, .dockerignore, compose.yaml)", function () {
  this.timeout(120_000);

  it("the Dockerfile lints clean, and the linter does catch mistakes", () => {
    assert.deepEqual(validate(text).map((d) => d.message), []);
    assert.ok(validate(`${text}\nEXPOSE eighty\n`).length > 0, "the linter flags a bad EXPOSE");
  });

  it("builds in two stages on the official Node slim image, pinned to the Node the lockfile carries", () => {
    const lock = JSON.parse(readFileSync(join(ROOT, "package-lock.json"), "utf8"));
    const node = lock.packages["node_modules/node"].version as string;
    assert.ok(dockerfile.getFROMs().length >= 2, "multi-stage: build tools and dev dependencies stay out of the image");
    for (const from of dockerfile.getFROMs()) {
      assert.equal(from.getImageName(), "node");
      assert.equal(from.getImageTag(), `${node}-bookworm-slim`, `FROM ${from.getImage()}: the tests ran on Node ${node}`);
    }
  });

  it("the build context holds the sources, lockfile and tsconfigs, and no .git, node_modules, dist, tests or local config (hookhost.json, config/)", () => {
    const context = buildContext();
    const tracked = execFileSync("git", ["ls-files"], { cwd: ROOT, encoding: "utf8" }).split("\n").filter(Boolean);
    const needed = tracked.filter((f) => /^(core|cli|sandbox|capabilities|bin)\//.test(f) || /^(package(-lock)?\.json|plugins\.d\.ts|tsconfig[^/]*\.json)$/.test(f));
    assert.ok(needed.length > 50, `${needed.length} source files`);
    assert.deepEqual(needed.filter((f) => !context.has(f)), [], "sources the build needs but the context leaves out");
    const leaked = [...context].filter((f) => /^(\.git|node_modules|dist|test|tmp|config)\//.test(f) || f === "hookhost.json" || f.endsWith(".log"));
    assert.deepEqual(leaked, []);
    const bytes = [...context].reduce((sum, f) => sum + statSync(join(ROOT, f)).size, 0);
    assert.ok(bytes < 8 * 2 ** 20, `context of ${(bytes / 2 ** 20).toFixed(1)} MiB`);
    for (const copy of dockerfile.getCOPYs().filter((c) => !c.getFromFlag())) {
      for (const source of copy.getArguments().slice(0, -1).map((a) => a.getValue())) {
        assert.ok(source === "." || context.has(source), `COPY ${source}: not in the build context`);
      }
    }
  });

  it("the final stage has lame and ffmpeg, and runs as a non-root user created there, over code owned by root", () => {
    const runs = final(dockerfile.getInstructions()).filter((i) => i.getKeyword() === "RUN").map((i) => i.getArgumentsContent() ?? "");
    assert.ok(runs.some((r) => /apt-get install\b[^&]*\blame\b/.test(r) && /apt-get install\b[^&]*\bffmpeg\b/.test(r)), "apt-get install lame ffmpeg");
    const user = final(dockerfile.getInstructions()).filter((i) => i.getKeyword() === "USER").at(-1)?.getArgumentsContent() ?? "";
    const [uid, gid] = user.split(":").map(Number);
    assert.ok(uid > 0 && gid > 0, `USER ${user}: numeric (runAsNonRoot can check it) and not root`);
    assert.ok(runs.some((r) => new RegExp(`useradd\\b.*--uid ${uid}\\b.*--gid ${gid}\\b`).test(r)), `the user ${uid} is created in the final stage`);
    for (const copy of final(dockerfile.getCOPYs())) assert.equal(copy.getFlags().find((f) => f.getName() === "chown"), undefined, "COPY --chown would let the host rewrite its code");
    const volumes = final(dockerfile.getInstructions()).find((i) => i.getKeyword() === "VOLUME")?.getArgumentsContent() ?? "";
    const env = finalEnv();
    for (const dir of [env.HOOKHOST_PLUGINS, env.HOOKHOST_CONFIG.replace(/\/[^/]+$/, "")]) assert.ok(JSON.parse(volumes).includes(dir), `${dir} is a VOLUME`);
  });

  it("--no-node-snapshot is in the ENTRYPOINT, so no CMD can lose it; the HEALTHCHECK uses Node, not curl", () => {
    const entrypoint = execForm("ENTRYPOINT");
    assert.deepEqual(entrypoint.slice(0, 2), ["node", "--no-node-snapshot"]);
    const health = execForm("HEALTHCHECK");
    assert.equal(health[0], "node");
    assert.ok(!/curl|wget/.test(text.split("\n").filter((l) => !l.trim().startsWith("#")).join("\n")), "no curl or wget in the image");
  });

  describe("ENTRYPOINT + CMD, environment and HEALTHCHECK, run here", () => {
    const entrypoint = execForm("ENTRYPOINT");
    const cmd = execForm("CMD");
    const health = execForm("HEALTHCHECK");
    const imageEnv = finalEnv();
    let dirs: ReturnType<typeof volumes>;
    let service: Service | undefined;

    // The image's paths, mapped: /app → this checkout; the volumes → temp folders. PORT 0: a free port.
    const argv = (args: string[]) => [process.execPath, ...entrypoint.slice(1).map((a) => a.replace(/^\/app\//, `${ROOT}/`)), ...args];
    const env = () => ({ ...imageEnv, PORT: "0", HOOKHOST_PLUGINS: dirs.plugins, HOOKHOST_CONFIG: dirs.configFile });
    const healthcheck = (port: string) => spawnSync(process.execPath, health.slice(1), { env: { PORT: port }, timeout: 10_000 }).status;

    beforeEach(() => {
      dirs = volumes();
    });
    afterEach(() => {
      service?.child.kill("SIGKILL");
      service = undefined;
      rmSync(dirs.root, { recursive: true, force: true });
    });

    it("the default command serves hooks on all addresses with the mounted config and plugins; HEALTHCHECK passes, and fails once it stopped", async () => {
      assert.ok(existsSync(argv([])[2]), `${argv([])[2]}: run npm run build first`);
      service = run(argv(cmd), env(), "/");
      const url = await listening(service);
      assert.ok(service.lines.some((l) => /"address":"0\.0\.0\.0"/.test(l)), "HOST from the image: 0.0.0.0");
      const answer = await postHook(url, "acme", "process_client_phone", fixture("process_client_phone"), { authorization: `Bearer ${TOKEN}` });
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.equal(answer.body.data.phone, "+89213451807");
      assert.equal((await postHook(url, "acme", "process_client_phone", fixture("process_client_phone"))).status, 401);
      const port = new URL(url).port;
      assert.equal(healthcheck(port), 0);
      service.child.kill("SIGTERM");
      assert.deepEqual(await service.ended, { code: 0, signal: null }, service.lines.join("\n"));
      assert.equal(healthcheck(port), 1);
    });

    it("without a mounted config the container stops at once with code 1, naming the file", async () => {
      rmSync(dirs.configFile);
      service = run(argv(cmd), env(), "/");
      assert.deepEqual(await service.ended, { code: 1, signal: null });
      assert.match(service.lines.join("\n"), new RegExp(dirs.configFile.replace(/[/.]/g, "\\$&")));
    });

    it("`docker run … hookhost check /plugins` runs the CLI's check on the mounted plugins", async () => {
      service = run(argv(["check", dirs.plugins]), env(), "/");
      const ended = await service.ended;
      assert.deepEqual(ended, { code: 0, signal: null }, service.lines.join("\n"));
      assert.match(service.lines.join("\n"), /plus/);
    });
  });

  it("compose.yaml passes docker-compose's own validation, which does refuse a misspelt option", () => {
    const check = (file: string) => spawnSync("docker-compose", ["--file", file, "--project-directory", ROOT, "config", "--quiet"], { encoding: "utf8" });
    const ok = check(join(ROOT, "compose.yaml"));
    assert.equal(ok.status, 0, ok.stderr);
    const dir = mkdtempSync(join(tmpdir(), "hookhost-compose-"));
    try {
      writeFileSync(join(dir, "compose.yaml"), readFileSync(join(ROOT, "compose.yaml"), "utf8").replace("    init: true", "    inti: true"));
      const bad = check(join(dir, "compose.yaml"));
      assert.notEqual(bad.status, 0);
      assert.match(bad.stderr, /inti/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("compose.yaml builds this image, mounts config and plugins where the image expects them, and points ctx.store at its Redis", () => {
    const compose = parseYaml(readFileSync(join(ROOT, "compose.yaml"), "utf8"));
    const host = compose.services.hookhost;
    const imageEnv = finalEnv();
    assert.equal(host.build, ".");
    const targets = (host.volumes as string[]).map((v) => v.split(":")[1]);
    assert.ok(targets.includes(imageEnv.HOOKHOST_PLUGINS));
    // the config's folder, so that a file replaced on the machine is seen in the container
    assert.ok(targets.includes(imageEnv.HOOKHOST_CONFIG.replace(/\/[^/]+$/, "")));
    const redis = new URL(host.environment.HOOKHOST_REDIS_URL);
    assert.ok(compose.services[redis.hostname], `HOOKHOST_REDIS_URL names the service ${redis.hostname}`);
    assert.equal(host.depends_on[redis.hostname].condition, "service_healthy");
    assert.ok(compose.services[redis.hostname].command.includes("noeviction"), "Redis never evicts one tenant's key for another's write");
    assert.equal(host.ports[0].split(":")[1], imageEnv.PORT);
  });
});
