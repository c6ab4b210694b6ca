// Package otlptest is a real OTLP/gRPC receiver that runs inside a test: a
// grpc.Server listening on 127.0.0.1 (over TLS with [WithTLS]) with the
// OTLP trace, logs and metrics services registered, which keeps every span
// and log record it accepts, counts the metric exports, and keeps the gRPC
// metadata of every trace export call.
//
//	srv := otlptest.NewServer(t, otlptest.WithBasicAuth("crs", "s3cret"))
//	tel, err := crstel.Setup(ctx, crstel.WithEndpoint(srv.URL()), crstel.WithBasicAuth("crs", "s3cret"))
//	...
//	spans := srv.WaitForSpans(2, 10*time.Second)
//	crsteltest.AssertConforms(t, otlptest.ToReadOnly(spans))
//
// Unlike an in-memory recorder, it sees what goes over the wire: what the
// OTLP exporter encodes, the headers it sends, and how it behaves when the
// receiver refuses the credentials ([WithBasicAuth]), answers slowly
// ([WithDelay]) or fails ([WithError]). Unlike the real OpenTelemetry
// Collector (see internal/collectortest), it starts in microseconds and
// needs no binary.
package otlptest
