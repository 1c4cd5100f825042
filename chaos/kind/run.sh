#!/usr/bin/env bash
# `make chaos`: the chaos timelines against NEXUS Edge on a kind (Kubernetes in Docker) cluster.
#
#   1. check the prerequisites (docker with a running daemon, kind, kubectl): exit 2 if missing
#   2. create the kind cluster (deploy/kind/cluster.yaml), unless it exists; every node mounts
#      the ledger directory (KIND_LEDGER_DIR) where the gateway pods write their ledgers
#   3. build the images (make images) and copy them into the nodes (kind load docker-image)
#   4. install metrics-server (pinned release manifest; the HPAs need it)
#   5. apply the kind overlay (deploy/k8s/overlays/kind) with random credentials, wait for it
#   6. run the chaos timelines: python -m chaos.kubernetes (scenarios/kind/*.yaml), one report
#      per scenario under REPORT_DIR, REPORT_DIR/summary.json for all
#   7. delete the cluster, unless KEEP=1; print where the report is
#
# Environment: KEEP=1 keeps the cluster, KIND_CLUSTER (nexus-chaos), REPORT_DIR
# (reports/chaos-kind/<UTC time>), PYTHON (.venv/bin/python), WAIT_TIMEOUT (600s),
# KIND_LEDGER_DIR (/tmp/nexus-kind-ledger, the hostPath of deploy/kind/cluster.yaml; another
# directory is used through a rendered copy of that file, for a new cluster only),
# CHAOS_ARGS (more arguments of python -m chaos.kubernetes, e.g. scenario files or --scale).
# Exit status: 0 all timelines passed, 1 a timeline failed, 2 a prerequisite is missing,
# anything else: the failing step's status.

set -uo pipefail

# -- 1. prerequisites (shell builtins only: this runs before anything else is known to exist) --
missing=()
for tool in docker kind kubectl; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]})); then
  {
    echo "make chaos: missing prerequisites: ${missing[*]}"
    echo "  docker : https://docs.docker.com/engine/install/"
    echo "  kind   : https://kind.sigs.k8s.io/docs/user/quick-start/#installation"
    echo "  kubectl: https://kubernetes.io/docs/tasks/tools/"
  } >&2
  exit 2
fi
if ! docker info >/dev/null 2>&1; then
  echo "make chaos: docker is installed but its daemon is not reachable (is it running, and may this user use it?)" >&2
  exit 2
fi

set -e
here="${BASH_SOURCE[0]%/*}"
ROOT="$(cd "$here/../.." && pwd)"
cd "$ROOT"

CLUSTER="${KIND_CLUSTER:-nexus-chaos}"
CONTEXT="kind-${CLUSTER}"
KEEP="${KEEP:-0}"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
WAIT_TIMEOUT="${WAIT_TIMEOUT:-600s}"
REPORT_DIR="${REPORT_DIR:-$ROOT/reports/chaos-kind/$(date -u +%Y%m%dT%H%M%SZ)}"
IMAGE_TAG="$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)"
IMAGES=("nexus-edge/nexus:${IMAGE_TAG}" "nexus-edge/twin:${IMAGE_TAG}")
# metrics-server, pinned: the HPAs of the kind overlay read CPU and memory from it.
METRICS_SERVER_MANIFEST="https://github.com/kubernetes-sigs/metrics-server/releases/download/v0.7.2/components.yaml"

DEFAULT_LEDGER_DIR=/tmp/nexus-kind-ledger
LEDGER_DIR="${KIND_LEDGER_DIR:-$DEFAULT_LEDGER_DIR}"

mkdir -p "$REPORT_DIR"
# The gateways (UID 10001 in the pods) write their ledgers here through the nodes' mounts.
mkdir -p "$LEDGER_DIR"
chmod 1777 "$LEDGER_DIR"
log() { echo "make chaos: $*" >&2; }
kc() { kubectl --context "$CONTEXT" "$@"; }

teardown() {
  local status=$?
  trap - EXIT
  if [[ "$KEEP" == "1" ]]; then
    log "KEEP=1: cluster '$CLUSTER' kept (kubectl --context $CONTEXT -n nexus get pods; kind delete cluster --name $CLUSTER)"
  else
    log "deleting the kind cluster '$CLUSTER'"
    kind delete cluster --name "$CLUSTER" >&2 || log "could not delete the cluster '$CLUSTER'"
  fi
  log "report: $REPORT_DIR"
  exit "$status"
}
trap teardown EXIT

# -- 2. cluster ---------------------------------------------------------------------------------
if kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
  log "reusing the kind cluster '$CLUSTER'"
else
  log "creating the kind cluster '$CLUSTER' (ledger directory $LEDGER_DIR)"
  cluster_config=deploy/kind/cluster.yaml
  if [[ "$LEDGER_DIR" != "$DEFAULT_LEDGER_DIR" ]]; then
    cluster_config="$REPORT_DIR/cluster.yaml"
    sed "s|hostPath: $DEFAULT_LEDGER_DIR\$|hostPath: $LEDGER_DIR|" deploy/kind/cluster.yaml > "$cluster_config"
  fi
  kind create cluster --name "$CLUSTER" --config "$cluster_config" --wait 180s
fi

# -- 3. images ----------------------------------------------------------------------------------
make images
if [[ -f load/locustfile.py ]]; then
  IMAGES+=("nexus-edge/load:${IMAGE_TAG}")
fi
for image in "${IMAGES[@]}"; do
  kind load docker-image --name "$CLUSTER" "$image"
done

# -- 4. metrics-server (kind's kubelets serve self-signed certificates) ---------------------------
kc apply -f "$METRICS_SERVER_MANIFEST"
kc -n kube-system patch deployment metrics-server --type=json \
  -p '[{"op":"add","path":"/spec/template/spec/containers/0/args/-","value":"--kubelet-insecure-tls"}]'
kc -n kube-system rollout status deployment/metrics-server --timeout="$WAIT_TIMEOUT"

# -- 5. the kind overlay, from a copy with its own random credentials -----------------------------
# The repository is never written to: the manifests and secrets.env live with the report.
manifests="$REPORT_DIR/manifests"
rm -rf "$manifests"
mkdir -p "$manifests"
cp -R deploy/k8s "$manifests/"
secret() { "$PYTHON" -c 'import secrets; print(secrets.token_hex(16))'; }
umask 077
cat > "$manifests/k8s/overlays/kind/secrets.env" <<SECRETS
POSTGRES_USER=postgres
POSTGRES_PASSWORD=$(secret)
NEXUS_DB_USER=nexus_ingest
NEXUS_DB_PASSWORD=$(secret)
MQTT_GATEWAY_USERNAME=gateway
MQTT_GATEWAY_PASSWORD=$(secret)
MQTT_INGEST_USERNAME=ingest
MQTT_INGEST_PASSWORD=$(secret)
EMQX_DASHBOARD_PASSWORD=$(secret)
EMQX_NODE_COOKIE=$(secret)
SECRETS
umask 022
kc apply -k "$manifests/k8s/overlays/kind"
for workload in statefulset/emqx statefulset/timescaledb statefulset/ingest deployment/twin deployment/gateway; do
  kc -n nexus rollout status "$workload" --timeout="$WAIT_TIMEOUT"
done
kc -n nexus wait --for=condition=Ready pod -l app.kubernetes.io/part-of=nexus-edge --timeout="$WAIT_TIMEOUT"
kc -n nexus get pods -o wide > "$REPORT_DIR/pods.txt"

# -- 6. the chaos timelines -----------------------------------------------------------------------
# The runner restores what it changed (HPA floors, gateway replicas, cut links) after each
# scenario; its exit status is this script's (0 all passed, 1 one did not, 2 not runnable).
read -r -a chaos_args <<< "${CHAOS_ARGS:-}"
log "running the chaos timelines (python -m chaos.kubernetes)"
"$PYTHON" -m chaos.kubernetes --context "$CONTEXT" --namespace nexus \
  --report-dir "$REPORT_DIR" --ledger-dir "$LEDGER_DIR" "${chaos_args[@]}"
