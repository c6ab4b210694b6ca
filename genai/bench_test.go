package genai_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"go.opentelemetry.io/otel"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/genai"
)

// The benchmarks measure what the transport adds to a call: each runs the
// same requests through an in-memory RoundTripper that returns a fixed
// response (so that no network hides the cost), bare and wrapped by
// genai.NewTransport, inside a CRS action, with a provider as crstel.Setup
// builds it (crstel's span processor, a batch processor with an exporter
// that discards) and a metric SDK recording the GenAI histograms.
//
//	go test -run '^$' -bench 'Transport' -benchmem ./genai/

// fixedRT answers every request with the same response, after reading
// the request's body as a real transport would.
type fixedRT struct {
	header http.Header
	body   []byte
}

func (f *fixedRT) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	return &http.Response{StatusCode: 200, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: f.header, Body: io.NopCloser(bytes.NewReader(f.body)), ContentLength: int64(len(f.body)), Request: req}, nil
}

type discard struct{}

func (discard) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discard) Shutdown(context.Context) error                             { return nil }

// benchSetup installs the providers and returns a context inside an
// action, and the meter provider.
func benchSetup(b *testing.B) (context.Context, *sdkmetric.MeterProvider) {
	b.Helper()
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithSpanProcessor(crstel.NewSpanProcessor()),
		sdktrace.WithBatcher(discard{}, sdktrace.WithMaxQueueSize(crstel.DefaultQueueSize)),
	)
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	ctx := crstel.WithTask(context.Background(), crs.Metadata{"round.id": "round-1", "task.id": "task-1", "team.id": "team-1"})
	ctx, action := crstel.Action(ctx, crs.PatchGeneration, "generate_patch", nil)
	b.Cleanup(func() {
		action.End()
		otel.SetTracerProvider(prev)
		_ = tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	return ctx, mp
}

// benchResponse is a chat completion of about 4 KB.
func benchResponse() []byte {
	content := strings.Repeat("The patch bounds the copy to the buffer's size. ", 72)
	return fmt.Appendf(nil, `{"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion","created":1741569952,`+
		`"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"message":{"role":"assistant","content":%q,"refusal":null,`+
		`"annotations":[]},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":1019,"completion_tokens":810,`+
		`"total_tokens":1829,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":`+
		`{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},`+
		`"service_tier":"default","system_fingerprint":"fp_06737a9306"}`, content)
}

var benchRequest = []byte(`{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You fix C bugs."},` +
	`{"role":"user","content":"Write a patch for vuln_module.c"}],"temperature":0.2,"max_completion_tokens":2048}`)

// call makes one request through rt and reads the response to its end,
// as a client does.
func call(b *testing.B, ctx context.Context, rt http.RoundTripper, buf []byte) int {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://api.openai.com/v1/chat/completions", bytes.NewReader(benchRequest))
	if err != nil {
		b.Fatal(err)
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for {
		m, err := resp.Body.Read(buf)
		n += m
		if err != nil {
			break
		}
	}
	resp.Body.Close()
	return n
}

// BenchmarkTransport compares a call with a 4 KB JSON response through
// the bare RoundTripper, through it with a span started and ended by hand
// with the raw SDK (the floor of any tracing), and through genai.NewTransport.
func BenchmarkTransport(b *testing.B) {
	body := benchResponse()
	base := &fixedRT{header: http.Header{"Content-Type": {"application/json"}}, body: body}
	b.Run("impl=plain", func(b *testing.B) {
		ctx, _ := benchSetup(b)
		buf := make([]byte, 32<<10)
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			call(b, ctx, base, buf)
		}
	})
	b.Run("impl=raw_sdk_span", func(b *testing.B) {
		ctx, _ := benchSetup(b)
		tr := otel.Tracer("raw")
		buf := make([]byte, 32<<10)
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			sctx, span := tr.Start(ctx, "chat gpt-4o-mini", trace.WithSpanKind(trace.SpanKindClient),
				trace.WithAttributes(genai.OperationNameKey.String("chat"), genai.ProviderNameKey.String("openai"),
					genai.RequestModelKey.String("gpt-4o-mini"), genai.ServerAddressKey.String("api.openai.com"), genai.ServerPortKey.Int(443)))
			call(b, sctx, base, buf)
			span.SetAttributes(genai.ResponseIDKey.String("chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT"),
				genai.UsageInputTokensKey.Int(1019), genai.UsageOutputTokensKey.Int(810))
			span.End()
		}
	})
	for _, capture := range []genai.Capture{genai.CaptureNone, genai.CaptureSpan} {
		b.Run(fmt.Sprintf("impl=transport/capture=%v", capture != genai.CaptureNone), func(b *testing.B) {
			ctx, mp := benchSetup(b)
			rt := genai.NewTransport(base, genai.WithMeterProvider(mp), genai.WithCapture(capture))
			buf := make([]byte, 32<<10)
			if n := call(b, ctx, rt, buf); n != len(body) {
				b.Fatalf("read %d bytes, want %d", n, len(body))
			}
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				call(b, ctx, rt, buf)
			}
		})
	}
}

// benchStream returns an OpenAI stream of n content chunks, a finish
// chunk, a usage chunk and [DONE].
func benchStream(n int) []byte {
	var b bytes.Buffer
	const head = `{"id":"chatcmpl-stream1","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_06737a9306","choices":[{"index":0,`
	for range n {
		fmt.Fprintf(&b, "data: %s\"delta\":{\"content\":\" patch\"},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n", head)
	}
	fmt.Fprintf(&b, "data: %s\"delta\":{},\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":null}\n\n", head)
	b.WriteString(`data: {"id":"chatcmpl-stream1","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o-mini-2024-07-18","choices":[],"usage":{"prompt_tokens":19,"completion_tokens":100,"total_tokens":119}}` + "\n\n")
	b.WriteString("data: [DONE]\n\n")
	return b.Bytes()
}

// BenchmarkTransportStream compares a streamed call of 100 chunks, read
// 512 bytes at a time as SDKs' line readers do, through the bare
// RoundTripper and through genai.NewTransport; ns/chunk is the time per chunk.
func BenchmarkTransportStream(b *testing.B) {
	const chunks = 100
	body := benchStream(chunks)
	base := &fixedRT{header: http.Header{"Content-Type": {"text/event-stream"}}, body: body}
	run := func(b *testing.B, opts ...genai.TransportOption) {
		ctx, mp := benchSetup(b)
		var rt http.RoundTripper = base
		if opts != nil {
			rt = genai.NewTransport(base, append(opts, genai.WithMeterProvider(mp))...)
		}
		buf := make([]byte, 512)
		if n := call(b, ctx, rt, buf); n != len(body) {
			b.Fatalf("read %d bytes, want %d", n, len(body))
		}
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			call(b, ctx, rt, buf)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/chunks, "ns/chunk")
	}
	b.Run("impl=plain", func(b *testing.B) { run(b) })
	b.Run("impl=transport/capture=false", func(b *testing.B) { run(b, genai.WithCapture(genai.CaptureNone)) })
	b.Run("impl=transport/capture=true", func(b *testing.B) { run(b, genai.WithCapture(genai.CaptureSpan)) })
}
