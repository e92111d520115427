#!/bin/sh
# SageMaker starts the container with the argument `serve`; anything else runs tickloop.
set -eu
if [ "${1:-serve}" = "serve" ]; then
  # SageMaker's runtime API authenticates callers; the container itself is not reachable
  # from anywhere else, hence --behind-gateway (listen on 0.0.0.0 without a token).
  exec /usr/local/bin/tickloop serve-model --model-dir /opt/ml/model --behind-gateway
fi
exec /usr/local/bin/tickloop "$@"
