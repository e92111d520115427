#!/bin/sh
# Registers the job definition, submits a sweep as an array job of SHARDS tasks, and a merge
# that starts when every task has succeeded. Needs the AWS CLI and a job queue named
# tickloop (see README.md). Usage: BUCKET=my-bucket RUN=sweep-ma-1 SHARDS=8 ./submit.sh
set -eu
cd "$(dirname "$0")"
: "${BUCKET:?set BUCKET}" "${RUN:?set RUN (one fresh prefix per run)}"
SHARDS="${SHARDS:-8}"
EXPERIMENT="${EXPERIMENT:-experiments/sweep-ma.toml}"
PREFIX="s3://$BUCKET/runs/$RUN"

aws batch register-job-definition --cli-input-json file://job-definition.json >/dev/null
ARRAY=$(aws batch submit-job --job-name "$RUN-shards" --job-queue tickloop --job-definition tickloop \
  --array-properties "size=$SHARDS" \
  --container-overrides "command=backtest,--experiment,$EXPERIMENT,--shards,$SHARDS,--run-prefix,$PREFIX" \
  --query jobId --output text)
MERGE=$(aws batch submit-job --job-name "$RUN-merge" --job-queue tickloop --job-definition tickloop \
  --depends-on "jobId=$ARRAY" \
  --container-overrides "command=runs,merge,$PREFIX" \
  --query jobId --output text)
echo "shards: $ARRAY ($SHARDS tasks), merge: $MERGE, results under $PREFIX"
