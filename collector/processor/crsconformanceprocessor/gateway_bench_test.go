package crsconformanceprocessor

import (
	"context"
	"net"
	"sync/atomic"
	"testing"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/exporter/otlpexporter"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// exportMethod is the gRPC method of OTLP trace export.
const exportMethod = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"

// rawCodec moves gRPC messages as the bytes they are, so that the
// benchmark's sender and backend neither encode nor decode: what the
// benchmark measures is the collector's pipeline between them.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *v.(*[]byte), nil }

func (rawCodec) Unmarshal(data []byte, v any) error {
	*v.(*[]byte) = append((*v.(*[]byte))[:0], data...)
	return nil
}

func (rawCodec) Name() string { return "proto" }

// backend is an OTLP gRPC endpoint that accepts every export and counts
// the bytes.
type backend struct {
	addr  string
	bytes atomic.Int64
}

func startBackend(tb testing.TB) *backend {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	be := &backend{addr: ln.Addr().String()}
	srv := grpc.NewServer(grpc.ForceServerCodec(rawCodec{}),
		grpc.UnknownServiceHandler(func(_ any, stream grpc.ServerStream) error {
			var req []byte
			if err := stream.RecvMsg(&req); err != nil {
				return err
			}
			be.bytes.Add(int64(len(req)))
			return stream.SendMsg(&[]byte{})
		}))
	go func() { _ = srv.Serve(ln) }()
	tb.Cleanup(srv.Stop)
	return be
}

// freePort returns a loopback address no one listens on.
func freePort(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// unmarshal sets cfg from a configuration as a collector's YAML gives it.
func unmarshal(tb testing.TB, cfg component.Config, m map[string]any) {
	tb.Helper()
	if err := confmap.NewFromStringMap(m).Unmarshal(cfg); err != nil {
		tb.Fatal(err)
	}
}

// startGateway starts the pipeline of crstelcol's gateway in this process,
// from the collector's own components: the OTLP gRPC receiver on a
// loopback port, crs_conformance with its zero configuration if with, and
// the OTLP gRPC exporter to be. It returns the receiver's address.
//
// The exporter sends as the export arrives (no sending queue, no batch
// processor, no compression), so that an export to the receiver returns
// when the backend has the spans, and the pipeline's cost is not diluted
// by work on one side only.
func startGateway(tb testing.TB, be *backend, with bool) string {
	tb.Helper()
	ctx := context.Background()
	host := componenttest.NewNopHost()

	ef := otlpexporter.NewFactory()
	ecfg := ef.CreateDefaultConfig()
	unmarshal(tb, ecfg, map[string]any{
		"endpoint":         be.addr,
		"tls":              map[string]any{"insecure": true},
		"compression":      "none",
		"sending_queue":    map[string]any{"enabled": false},
		"retry_on_failure": map[string]any{"enabled": false},
	})
	exp, err := ef.CreateTraces(ctx, exportertest.NewNopSettings(ef.Type()), ecfg)
	if err != nil {
		tb.Fatal(err)
	}
	if err := exp.Start(ctx, host); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = exp.Shutdown(ctx) })

	var next consumer.Traces = exp
	if with {
		pf := NewFactory()
		p, err := pf.CreateTraces(ctx, processortest.NewNopSettings(pf.Type()), pf.CreateDefaultConfig(), next)
		if err != nil {
			tb.Fatal(err)
		}
		if err := p.Start(ctx, host); err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { _ = p.Shutdown(ctx) })
		next = p
	}

	addr := freePort(tb)
	rf := otlpreceiver.NewFactory()
	rcfg := rf.CreateDefaultConfig()
	unmarshal(tb, rcfg, map[string]any{"protocols": map[string]any{"grpc": map[string]any{"endpoint": addr}}})
	rcv, err := rf.CreateTraces(ctx, receivertest.NewNopSettings(rf.Type()), rcfg, next)
	if err != nil {
		tb.Fatal(err)
	}
	if err := rcv.Start(ctx, host); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = rcv.Shutdown(ctx) })
	return addr
}

// BenchmarkGateway: spans/s through crstelcol's gateway pipeline (OTLP
// gRPC in, OTLP gRPC out, over loopback) with crs_conformance in it (its
// zero configuration) and without, each export a batch of 1000 spans
// (benchBatch) sent as encoded bytes. Compare with benchstat -col
// /pipeline; the goal is crs_conformance at 0.9× the spans/s or better.
func BenchmarkGateway(b *testing.B) {
	req, err := ptraceotlp.NewExportRequestFromTraces(benchBatch()).MarshalProto()
	if err != nil {
		b.Fatal(err)
	}
	n := benchBatch().SpanCount()
	for _, with := range []bool{false, true} {
		name := "pipeline=raw"
		if with {
			name = "pipeline=crs_conformance"
		}
		b.Run(name, func(b *testing.B) {
			be := startBackend(b)
			addr := startGateway(b, be, with)
			conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = conn.Close() })
			ctx := context.Background()
			send := func() {
				var resp []byte
				if err := conn.Invoke(ctx, exportMethod, &req, &resp, grpc.ForceCodec(rawCodec{})); err != nil {
					b.Fatal(err)
				}
			}
			send() // connected, warm
			b.ReportAllocs()
			for b.Loop() {
				send()
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "spans/s")
			if be.bytes.Load() == 0 {
				b.Fatal("the backend received nothing")
			}
		})
	}
}
