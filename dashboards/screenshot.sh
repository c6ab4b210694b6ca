#!/bin/sh
# Draws dashboards/crstel.png, the picture of the dashboard in README.md.
#
# There is no Grafana here: TestDashboard (collector/e2e/dashboard_test.go)
# runs a real Prometheus (Debian's package, installed if missing), which
# scrapes examples/dashboard at work for 30 s and the crstelcol gateway it
# sends its spans to; it evaluates every expression of crstel.json through
# Prometheus's HTTP API, and draws each panel from the results with
# gonum.org/v1/plot (collector/e2e/render_test.go). Without -screenshot, as
# in CI, the same test draws the picture to a temporary file.
set -eu
dir=$(cd "$(dirname "$0")" && pwd)
cd "$dir/../collector"
go test -count=1 -run '^TestDashboard$' ./e2e -args -screenshot="$dir/crstel.png"
