#!/bin/sh
# SageMaker starts the container with `train` (a training job) or `serve` (an endpoint);
# anything else runs tickloop with those arguments (array-job tasks, merges).
set -eu
case "${1:-serve}" in
  serve)
    # SageMaker's runtime API authenticates callers; the container itself is not reachable
    # from anywhere else, hence --behind-gateway (listen on 0.0.0.0 without a token).
    exec /usr/local/bin/tickloop serve-model --model-dir /opt/ml/model --behind-gateway ;;
  train)
    # Hyperparameters, channels, model and failure file under /opt/ml (TICKLOOP_ML_ROOT).
    exec /usr/local/bin/tickloop sagemaker-train ;;
  *)
    exec /usr/local/bin/tickloop "$@" ;;
esac
