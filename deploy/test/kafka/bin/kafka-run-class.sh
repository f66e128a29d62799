#!/bin/sh
# kafka-run-class.sh CLASS ARGS...: run a Kafka main class with every jar of /opt/kafka/libs
exec java ${KAFKA_HEAP_OPTS:--Xmx256m} -cp "/opt/kafka/libs/*" -Dlog4j2.configurationFile=/opt/kafka/config/log4j2.properties "$@"
