# syntax=docker/dockerfile:1
# hookhost in a container: `docker build -t hookhost .`, then README "Deploy". Node 24 comes from
# the base image (pinned to the version package-lock.json carries; test/deploy-container.test.ts
# keeps the two equal), so the npm `node` package that carries it for `npm start` is left out.

FROM node:24.21.0-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Install scripts are skipped: `prepare` needs the sources (copied next), isolated-vm loads its
# prebuilt binary for Node 24 without one, esbuild finds its platform package, and the `node`
# package's script would fetch a second Node 24 the image already has.
RUN npm ci --ignore-scripts --no-audit --no-fund \
 && rm -rf node_modules/node node_modules/.bin/node
COPY . .
# prune puts the `node` package back (it is a dependency): removed again.
RUN npm run build \
 && npm prune --omit=dev --ignore-scripts --no-audit --no-fund \
 && rm -rf node_modules/node node_modules/.bin/node

FROM node:24.21.0-bookworm-slim
# lame (else ffmpeg) converts recordings to mp3 (ctx.records and the stock conversion).
RUN apt-get update \
 && apt-get install -y --no-install-recommends lame ffmpeg \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 hookhost \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin hookhost \
 && mkdir -p /plugins /etc/hookhost
WORKDIR /app
# Owned by root, so the host cannot change its own code.
COPY --from=build /app /app
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    HOOKHOST_PLUGINS=/plugins \
    HOOKHOST_CONFIG=/etc/hookhost/hookhost.json
VOLUME ["/plugins", "/etc/hookhost"]
EXPOSE 8080
# Numeric, so Kubernetes' runAsNonRoot can check it.
USER 10001:10001
# Liveness only (/readyz also fails while Redis is down; restarting would not help then). No curl
# in the image: Node's fetch.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.PORT}/healthz`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# isolated-vm needs --no-node-snapshot on the command line (Node refuses it in NODE_OPTIONS), so it
# is part of the entrypoint; the command is the hookhost CLI's: `serve` by default, or
# `docker run … hookhost check /plugins`.
ENTRYPOINT ["node", "--no-node-snapshot", "/app/dist/cli/main.js"]
CMD ["serve"]
