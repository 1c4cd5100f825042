#!/bin/sh
# EMQX start for NEXUS Edge: write the MQTT users (from the Secret's environment) into the
# bootstrap file that emqx.conf imports, then start EMQX with the image's own entry point.
# The file lives on a memory-backed volume (/opt/emqx/bootstrap), never in the image or on disk.
set -eu
: "${MQTT_GATEWAY_USERNAME:?is not set (Secret nexus-secrets)}"
: "${MQTT_GATEWAY_PASSWORD:?is not set (Secret nexus-secrets)}"
: "${MQTT_INGEST_USERNAME:?is not set (Secret nexus-secrets)}"
: "${MQTT_INGEST_PASSWORD:?is not set (Secret nexus-secrets)}"
nl='
'
for value in "$MQTT_GATEWAY_USERNAME" "$MQTT_GATEWAY_PASSWORD" "$MQTT_INGEST_USERNAME" "$MQTT_INGEST_PASSWORD"; do
  case "$value" in
    *[,\"]* | *"$nl"*)
      echo "emqx-start: MQTT user names and passwords must not contain commas, quotes or newlines" >&2
      exit 2 ;;
  esac
done
dir="${EMQX_BOOTSTRAP_DIR:-/opt/emqx/bootstrap}"  # emqx.conf: authentication.bootstrap_file
umask 077
mkdir -p "$dir"
{
  echo "user_id,password,is_superuser"
  echo "${MQTT_GATEWAY_USERNAME},${MQTT_GATEWAY_PASSWORD},false"
  echo "${MQTT_INGEST_USERNAME},${MQTT_INGEST_PASSWORD},false"
} > "$dir/users.csv"
exec /usr/bin/docker-entrypoint.sh /opt/emqx/bin/emqx foreground
