package crstel_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
)

// OTEL_METRICS_EXPORTER=prometheus serves the metrics on /metrics; port 0
// takes a free port, which PrometheusAddr tells.
func ExampleTelemetry_PrometheusAddr() {
	for k, v := range map[string]string{
		"OTEL_METRICS_EXPORTER":         "prometheus",
		"OTEL_EXPORTER_PROMETHEUS_HOST": "127.0.0.1",
		"OTEL_EXPORTER_PROMETHEUS_PORT": "0",
		"OTEL_TRACES_EXPORTER":          "none",
		"OTEL_LOGS_EXPORTER":            "none",
	} {
		os.Setenv(k, v)
		defer os.Unsetenv(k)
	}
	ctx := context.Background()
	tel, err := crstel.Setup(ctx, crstel.WithServiceName("patcher"), crstel.WithoutJournal())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer tel.Shutdown(context.WithoutCancel(ctx))

	_, span := crstel.Action(ctx, crs.PatchGeneration, "generate_patch", nil)
	defer span.End()

	resp, err := http.Get("http://" + tel.PrometheusAddr() + "/metrics")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	for sc := bufio.NewScanner(resp.Body); sc.Scan(); {
		if line := sc.Text(); strings.HasPrefix(line, "crstel_actions_open{") {
			fmt.Println(line[strings.LastIndexByte(line, ' ')+1:], "action open")
		}
	}
	// Output:
	// 1 action open
}
