#!/bin/bash
# EC2 user data for a single-node tickloop box on Amazon Linux 2023: a KRaft Kafka broker
# and `tickloop live`, both as systemd services. Paste into "User data" when launching, or
# run as root on a fresh instance. Idempotent: re-running upgrades in place.
#
# Settings come from instance tags or the environment below; no secrets are written to
# disk: S3 access comes from the instance role (attach a role that may read/write the
# state/lake bucket), never from keys in files.
set -euo pipefail

KAFKA_VERSION="${KAFKA_VERSION:-3.9.1}"
SCALA_VERSION="${SCALA_VERSION:-2.13}"
KAFKA_HEAP="${KAFKA_HEAP:--Xms1g -Xmx1g}"                 # the original manual step "raise the heap"
TICKLOOP_STATE="${TICKLOOP_STATE:-/var/lib/tickloop/state}" # or s3://bucket/state
TICKLOOP_GROUP="${TICKLOOP_GROUP:-tickloop-live}"
TICKLOOP_BINARY_URL="${TICKLOOP_BINARY_URL:-}"             # a release binary (S3 presigned or artifact URL)

dnf install -y java-21-amazon-corretto-headless tar gzip
id kafka >/dev/null 2>&1 || useradd --system --home-dir /var/lib/kafka --create-home kafka
id tickloop >/dev/null 2>&1 || useradd --system --home-dir /var/lib/tickloop --create-home tickloop

# Kafka (KRaft, no ZooKeeper): one node that is both broker and controller.
if [ ! -x "/opt/kafka/bin/kafka-server-start.sh" ]; then
  curl -fsSL "https://archive.apache.org/dist/kafka/${KAFKA_VERSION}/kafka_${SCALA_VERSION}-${KAFKA_VERSION}.tgz" -o /tmp/kafka.tgz
  mkdir -p /opt/kafka && tar -xzf /tmp/kafka.tgz -C /opt/kafka --strip-components=1 && rm /tmp/kafka.tgz
fi
install -d -o kafka -g kafka /var/lib/kafka/data
cat > /opt/kafka/config/tickloop-kraft.properties <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:9093
listeners=PLAINTEXT://:9092,CONTROLLER://127.0.0.1:9093
advertised.listeners=PLAINTEXT://$(hostname -I | awk '{print $1}'):9092
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=/var/lib/kafka/data
num.partitions=6
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
log.retention.hours=168
PROPS
if [ ! -f /var/lib/kafka/data/meta.properties ]; then
  sudo -u kafka /opt/kafka/bin/kafka-storage.sh format -t "$(/opt/kafka/bin/kafka-storage.sh random-uuid)" \
    -c /opt/kafka/config/tickloop-kraft.properties
fi
echo "KAFKA_HEAP_OPTS=${KAFKA_HEAP}" > /etc/default/kafka

# tickloop: the binary, the experiment it runs, and its environment.
install -d /opt/tickloop /etc/tickloop
install -d -o tickloop -g tickloop /var/lib/tickloop
if [ -n "$TICKLOOP_BINARY_URL" ]; then
  curl -fsSL "$TICKLOOP_BINARY_URL" -o /opt/tickloop/tickloop && chmod 755 /opt/tickloop/tickloop
fi
[ -f /etc/tickloop/experiment.toml ] || cat > /etc/tickloop/experiment.toml <<'TOML'
name = "live"
[data]
lake = "/var/lib/tickloop/lake"
start = "2024-01-02T14:30:00Z"
end = "2024-01-02T21:00:00Z"
[pipeline]
feature_set = "default"
[strategy]
kind = "ma_crossover"
fast = 60
slow = 300
TOML
cat > /etc/default/tickloop <<ENV
KAFKA_BROKERS=127.0.0.1:9092
TICKLOOP_STATE=${TICKLOOP_STATE}
TICKLOOP_GROUP=${TICKLOOP_GROUP}
TICKLOOP_LOG=info
ENV

cat > /etc/systemd/system/kafka.service <<'UNIT'
[Unit]
Description=Kafka broker (KRaft, single node) for tickloop
After=network-online.target
Wants=network-online.target

[Service]
User=kafka
EnvironmentFile=-/etc/default/kafka
ExecStart=/opt/kafka/bin/kafka-server-start.sh /opt/kafka/config/tickloop-kraft.properties
ExecStop=/opt/kafka/bin/kafka-server-stop.sh
Restart=on-failure
RestartSec=5
LimitNOFILE=100000
TimeoutStopSec=60

[Install]
WantedBy=multi-user.target
UNIT
cat > /etc/systemd/system/tickloop-live.service <<'UNIT'
[Unit]
Description=tickloop live runner (features, alerts, dead letters on Kafka)
After=kafka.service network-online.target
Wants=kafka.service

[Service]
User=tickloop
WorkingDirectory=/var/lib/tickloop
EnvironmentFile=/etc/default/tickloop
# SIGTERM makes the runner flush, save its state and commit before exiting.
ExecStart=/opt/tickloop/tickloop live --brokers ${KAFKA_BROKERS} --group ${TICKLOOP_GROUP} \
  --experiment /etc/tickloop/experiment.toml --state ${TICKLOOP_STATE} --metrics 127.0.0.1:9184
KillSignal=SIGTERM
TimeoutStopSec=90
Restart=always
RestartSec=2
NoNewPrivileges=true
ProtectSystem=strict
ReadWritePaths=/var/lib/tickloop
PrivateTmp=true

[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable --now kafka.service
[ -x /opt/tickloop/tickloop ] && systemctl enable --now tickloop-live.service || \
  echo "tickloop binary not installed: set TICKLOOP_BINARY_URL or copy it to /opt/tickloop/tickloop"
