#!/bin/sh
# Serves $S3_DATA over S3 on $S3_ADDR; keys come from S3_ACCESS_KEY / S3_SECRET_KEY, and it refuses
# to start without them (no default keys).
set -eu
: "${S3_ACCESS_KEY:?S3_ACCESS_KEY is required}"
: "${S3_SECRET_KEY:?S3_SECRET_KEY is required}"
# rclone 1.75 does not take --auth-key from its environment as one pair, so it goes on the
# command line: visible to `ps` inside this throw-away sandbox container only.
exec /usr/local/bin/rclone serve s3 --addr "$S3_ADDR" --force-path-style=true \
  --auth-key "${S3_ACCESS_KEY},${S3_SECRET_KEY}" "$@" "$S3_DATA"
