package otlptest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"maps"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	collectorlogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	metricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	collectorpb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/crstel/crstel/internal/otlpjson"
)

// Option configures a [Server].
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	tls   bool
	auth  string // the expected authorization metadata; "" accepts anything
	delay time.Duration
	code  codes.Code
}

// WithBasicAuth makes the server refuse, with codes.Unauthenticated, every
// export call whose "authorization" metadata is not
// "Basic " + base64(user + ":" + password), as the Collector's basicauth
// extension does. The refusal does not repeat what the client sent. The
// default accepts any call.
func WithBasicAuth(user, password string) Option {
	token := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
	return optionFunc(func(c *config) { c.auth = token })
}

// WithDelay makes the server wait d before it answers each export call, or
// until the caller gives up or the server stops. The spans of a call are
// kept only if it completes. The default is no delay.
func WithDelay(d time.Duration) Option {
	return optionFunc(func(c *config) { c.delay = d })
}

// WithError makes the server fail every export call (after the credentials
// check and the delay) with a status of code, and keep none of its spans.
// codes.OK means success, the default.
func WithError(code codes.Code) Option {
	return optionFunc(func(c *config) { c.code = code })
}

// WithTLS makes the server speak TLS with a self-signed certificate for
// 127.0.0.1, written in PEM to a file whose path [Server.CertFile] returns,
// the form OTEL_EXPORTER_OTLP_CERTIFICATE takes.
func WithTLS() Option {
	return optionFunc(func(c *config) { c.tls = true })
}

// Server is an OTLP/gRPC trace receiver listening on 127.0.0.1. It is safe
// for concurrent use.
type Server struct {
	collectorpb.UnimplementedTraceServiceServer

	cfg      config
	endpoint string
	certFile string
	srv      *grpc.Server
	served   chan struct{} // closed when Serve has returned
	stopping chan struct{} // closed when Stop starts
	stopOnce sync.Once

	mu             sync.Mutex
	changed        chan struct{} // closed and replaced whenever spans arrive
	received       []*tracepb.ResourceSpans
	headers        []metadata.MD
	requests       int
	metricRequests int
	logs           logStore // see logs.go
}

// stopTimeout bounds how long Stop waits for calls in flight before it
// closes their connections.
const stopTimeout = 5 * time.Second

// NewServer starts a Server on a free port of 127.0.0.1. tb.Cleanup stops
// it; NewServer fails tb if it cannot listen. A nil Option is ignored.
func NewServer(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	var cfg config
	for _, o := range opts {
		if o != nil {
			o.apply(&cfg)
		}
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("otlptest: listening on 127.0.0.1: %v", err)
	}
	var serverOpts []grpc.ServerOption
	var certFile string
	if cfg.tls {
		cert, pemFile := selfSigned(tb)
		certFile = pemFile
		serverOpts = append(serverOpts, grpc.Creds(credentials.NewServerTLSFromCert(&cert)))
	}
	s := &Server{
		cfg:      cfg,
		endpoint: lis.Addr().String(),
		certFile: certFile,
		srv:      grpc.NewServer(serverOpts...),
		served:   make(chan struct{}),
		stopping: make(chan struct{}),
		changed:  make(chan struct{}),
	}
	collectorpb.RegisterTraceServiceServer(s.srv, s)
	metricspb.RegisterMetricsServiceServer(s.srv, metricsService{s: s})
	collectorlogspb.RegisterLogsServiceServer(s.srv, logsService{s: s})
	go func() {
		defer close(s.served)
		_ = s.srv.Serve(lis) // returns nil after Stop; other errors end the test's spans anyway
	}()
	tb.Cleanup(s.Stop)
	return s
}

// Endpoint returns the server's address, "127.0.0.1:PORT", the form of
// otlptracegrpc.WithEndpoint (with otlptracegrpc.WithInsecure: the server
// has no TLS).
func (s *Server) Endpoint() string { return s.endpoint }

// URL returns "http://127.0.0.1:PORT", or "https://127.0.0.1:PORT" with
// [WithTLS]: the form of OTEL_EXPORTER_OTLP_ENDPOINT and
// otlptracegrpc.WithEndpointURL.
func (s *Server) URL() string {
	if s.cfg.tls {
		return "https://" + s.endpoint
	}
	return "http://" + s.endpoint
}

// CertFile returns the path of the PEM file holding the server's
// certificate with [WithTLS], or "".
func (s *Server) CertFile() string { return s.certFile }

// selfSigned returns a certificate for 127.0.0.1 and the path of a PEM file
// holding it.
func selfSigned(tb testing.TB) (tls.Certificate, string) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatalf("otlptest: generating a key: %v", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "otlptest"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatalf("otlptest: creating a certificate: %v", err)
	}
	path := filepath.Join(tb.TempDir(), "otlptest-ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		tb.Fatalf("otlptest: %v", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, path
}

// Stop stops the server: it waits up to 5 seconds for export calls in
// flight to finish (a call held by [WithDelay] ends at once), then closes
// every connection, and returns when the serving goroutine has ended. It is
// safe to call more than once; the test's cleanup calls it.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		close(s.stopping)
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.srv.GracefulStop()
		}()
		t := time.NewTimer(stopTimeout)
		defer t.Stop()
		select {
		case <-done:
		case <-t.C:
			s.srv.Stop()
			<-done
		}
		<-s.served
	})
}

// Export implements the OTLP TraceService. It is called by gRPC.
func (s *Server) Export(ctx context.Context, req *collectorpb.ExportTraceServiceRequest) (*collectorpb.ExportTraceServiceResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	s.mu.Lock()
	s.requests++
	s.headers = append(s.headers, md.Copy())
	s.mu.Unlock()

	if err := s.admit(ctx, md); err != nil {
		return nil, err
	}

	rs := make([]*tracepb.ResourceSpans, 0, len(req.GetResourceSpans()))
	for _, r := range req.GetResourceSpans() {
		rs = append(rs, proto.CloneOf(r))
	}
	s.mu.Lock()
	s.received = append(s.received, rs...)
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	return &collectorpb.ExportTraceServiceResponse{}, nil
}

// admit applies the server's options to an export call: the credentials
// check, the delay, the configured failure.
func (s *Server) admit(ctx context.Context, md metadata.MD) error {
	if s.cfg.auth != "" {
		got := md.Get("authorization")
		if len(got) != 1 || subtle.ConstantTimeCompare([]byte(got[0]), []byte(s.cfg.auth)) != 1 {
			return status.Error(codes.Unauthenticated, "otlptest: missing or wrong credentials")
		}
	}
	if s.cfg.delay > 0 {
		t := time.NewTimer(s.cfg.delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-s.stopping:
			return status.Error(codes.Unavailable, "otlptest: server stopping")
		}
	}
	if s.cfg.code != codes.OK {
		return status.Errorf(s.cfg.code, "otlptest: configured to fail with %v", s.cfg.code)
	}

	return nil
}

// metricsService accepts OTLP metrics, as a collector does, so that
// exporters configured for both signals work against the server; it keeps
// only a count.
type metricsService struct {
	metricspb.UnimplementedMetricsServiceServer
	s *Server
}

func (m metricsService) Export(ctx context.Context, _ *metricspb.ExportMetricsServiceRequest) (*metricspb.ExportMetricsServiceResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	m.s.mu.Lock()
	m.s.metricRequests++
	m.s.mu.Unlock()
	if err := m.s.admit(ctx, md); err != nil {
		return nil, err
	}
	return &metricspb.ExportMetricsServiceResponse{}, nil
}

// MetricRequests returns the number of metric export calls made so far,
// accepted or not.
func (s *Server) MetricRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.metricRequests
}

// Requests returns the number of trace export calls made so far, accepted
// or not.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// Headers returns the incoming gRPC metadata of each trace export call so
// far, accepted or not, in the order they arrived. Keys are lower case, as
// gRPC makes them: md.Get("authorization").
func (s *Server) Headers() []metadata.MD {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]metadata.MD, len(s.headers))
	for i, md := range s.headers {
		out[i] = md.Copy()
	}
	return out
}

// Spans returns copies of the OTLP spans accepted so far, in the order they
// arrived.
func (s *Server) Spans() []*tracepb.Span {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*tracepb.Span
	for _, rs := range s.received {
		for _, ss := range rs.GetScopeSpans() {
			for _, sp := range ss.GetSpans() {
				out = append(out, proto.CloneOf(sp))
			}
		}
	}
	return out
}

// Received returns the spans accepted so far, in the order they arrived,
// each with its resource and scope.
func (s *Server) Received() []Span {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Span
	for _, rs := range s.received {
		res := attrs(rs.GetResource().GetAttributes())
		for _, ss := range rs.GetScopeSpans() {
			for _, sp := range ss.GetSpans() {
				out = append(out, flatten(sp, res, ss.GetScope()))
			}
		}
	}
	return out
}

// WaitForSpans waits until the server has accepted at least n spans or
// timeout has passed, and returns the spans accepted then: fewer than n on
// timeout, more if more arrived.
func (s *Server) WaitForSpans(n int, timeout time.Duration) []Span {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		s.mu.Lock()
		count := 0
		for _, rs := range s.received {
			for _, ss := range rs.GetScopeSpans() {
				count += len(ss.GetSpans())
			}
		}
		changed := s.changed
		s.mu.Unlock()
		if count >= n {
			return s.Received()
		}
		select {
		case <-changed:
		case <-t.C:
			return s.Received()
		}
	}
}

// Span is a span the server accepted, flattened for tests.
type Span struct {
	// Name is the span's name.
	Name string
	// TraceID, SpanID and ParentSpanID are lower-case hex; ParentSpanID is
	// "" for a root span.
	TraceID, SpanID, ParentSpanID string
	// Kind is the OTLP span kind: 0 unspecified, 1 internal, 2 server,
	// 3 client, 4 producer, 5 consumer (the numbers of trace.SpanKind).
	Kind int
	// StartTime and EndTime are when the span started and ended.
	StartTime, EndTime time.Time
	// Attributes are the span's attributes. Values are string, int64,
	// float64, bool, []byte, []any for arrays (of the same types),
	// map[string]any for key-value lists, and nil for empty values.
	Attributes map[string]any
	// Resource holds the attributes of the span's resource, typed like
	// Attributes.
	Resource map[string]any
	// Scope and ScopeVersion are the name and version of the span's
	// instrumentation scope (the tracer's name).
	Scope, ScopeVersion string
	// StatusCode is the OTLP status code: 0 unset, 1 ok, 2 error. (The
	// OpenTelemetry Go API numbers them differently.)
	StatusCode int
	// StatusMessage is the status's description.
	StatusMessage string
	// Events are the span's events.
	Events []Event
	// Links are the span's links.
	Links []Link
}

// Event is an event of a [Span].
type Event struct {
	// Name is the event's name.
	Name string
	// Time is when it happened.
	Time time.Time
	// Attributes are its attributes, typed like Span.Attributes.
	Attributes map[string]any
}

// Link is a link of a [Span] to another span.
type Link struct {
	// TraceID and SpanID identify the linked span, in lower-case hex.
	TraceID, SpanID string
	// Attributes are the link's attributes, typed like Span.Attributes.
	Attributes map[string]any
}

func flatten(sp *tracepb.Span, res map[string]any, scope *commonpb.InstrumentationScope) Span {
	out := Span{
		Name:          sp.GetName(),
		TraceID:       hex.EncodeToString(sp.GetTraceId()),
		SpanID:        hex.EncodeToString(sp.GetSpanId()),
		ParentSpanID:  hex.EncodeToString(sp.GetParentSpanId()),
		Kind:          int(sp.GetKind()),
		StartTime:     unixNano(sp.GetStartTimeUnixNano()),
		EndTime:       unixNano(sp.GetEndTimeUnixNano()),
		Attributes:    attrs(sp.GetAttributes()),
		Resource:      maps.Clone(res),
		Scope:         scope.GetName(),
		ScopeVersion:  scope.GetVersion(),
		StatusCode:    int(sp.GetStatus().GetCode()),
		StatusMessage: sp.GetStatus().GetMessage(),
	}
	for _, ev := range sp.GetEvents() {
		out.Events = append(out.Events, Event{
			Name:       ev.GetName(),
			Time:       unixNano(ev.GetTimeUnixNano()),
			Attributes: attrs(ev.GetAttributes()),
		})
	}
	for _, l := range sp.GetLinks() {
		out.Links = append(out.Links, Link{
			TraceID:    hex.EncodeToString(l.GetTraceId()),
			SpanID:     hex.EncodeToString(l.GetSpanId()),
			Attributes: attrs(l.GetAttributes()),
		})
	}
	return out
}

func unixNano(ns uint64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(ns)) // OTLP times fit in an int64 until 2262
}

func attrs(kvs []*commonpb.KeyValue) map[string]any {
	out := make(map[string]any, len(kvs))
	for _, kv := range kvs {
		out[kv.GetKey()] = anyValue(kv.GetValue())
	}
	return out
}

func anyValue(v *commonpb.AnyValue) any {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_BoolValue:
		return x.BoolValue
	case *commonpb.AnyValue_IntValue:
		return x.IntValue
	case *commonpb.AnyValue_DoubleValue:
		return x.DoubleValue
	case *commonpb.AnyValue_BytesValue:
		return slices.Clone(x.BytesValue)
	case *commonpb.AnyValue_ArrayValue:
		out := make([]any, 0, len(x.ArrayValue.GetValues()))
		for _, e := range x.ArrayValue.GetValues() {
			out = append(out, anyValue(e))
		}
		return out
	case *commonpb.AnyValue_KvlistValue:
		return attrs(x.KvlistValue.GetValues())
	default:
		return nil
	}
}

// ToReadOnly converts spans to OpenTelemetry SDK spans, so that what the
// server received can be checked with the tools made for recorded spans,
// such as crsteltest.AssertConforms. It keeps the name, the span context
// (trace and span ids, sampled), the parent, the kind, the times, the
// attributes, the resource, the instrumentation scope, the status, the
// events and the links.
//
// OTLP arrays do not say their element type, so an array whose elements all
// have the same type becomes a slice of that type, an empty array an empty
// string slice, and any other array a heterogeneous slice
// (attribute.SliceValue). Ids that are not valid hex are left zero.
func ToReadOnly(spans []Span) []sdktrace.ReadOnlySpan {
	out := make([]sdktrace.ReadOnlySpan, 0, len(spans))
	for _, s := range spans {
		tid := traceID(s.TraceID)
		stub := tracetest.SpanStub{
			Name: s.Name,
			SpanContext: trace.NewSpanContext(trace.SpanContextConfig{
				TraceID:    tid,
				SpanID:     spanID(s.SpanID),
				TraceFlags: trace.FlagsSampled,
			}),
			SpanKind:             trace.SpanKind(s.Kind),
			StartTime:            s.StartTime,
			EndTime:              s.EndTime,
			Attributes:           keyValues(s.Attributes),
			Resource:             resource.NewSchemaless(keyValues(s.Resource)...),
			InstrumentationScope: instrumentation.Scope{Name: s.Scope, Version: s.ScopeVersion},
			Status:               sdktrace.Status{Code: statusCode(s.StatusCode), Description: s.StatusMessage},
		}
		if s.ParentSpanID != "" {
			stub.Parent = trace.NewSpanContext(trace.SpanContextConfig{
				TraceID:    tid,
				SpanID:     spanID(s.ParentSpanID),
				TraceFlags: trace.FlagsSampled,
				Remote:     true,
			})
		}
		for _, ev := range s.Events {
			stub.Events = append(stub.Events, sdktrace.Event{
				Name: ev.Name, Time: ev.Time, Attributes: keyValues(ev.Attributes),
			})
		}
		for _, l := range s.Links {
			stub.Links = append(stub.Links, sdktrace.Link{
				SpanContext: trace.NewSpanContext(trace.SpanContextConfig{
					TraceID: traceID(l.TraceID), SpanID: spanID(l.SpanID),
				}),
				Attributes: keyValues(l.Attributes),
			})
		}
		out = append(out, stub.Snapshot())
	}
	return out
}

// statusCode maps an OTLP status code to the OpenTelemetry Go one.
func statusCode(c int) otelcodes.Code {
	switch c {
	case int(tracepb.Status_STATUS_CODE_OK):
		return otelcodes.Ok
	case int(tracepb.Status_STATUS_CODE_ERROR):
		return otelcodes.Error
	default:
		return otelcodes.Unset
	}
}

func traceID(s string) trace.TraceID {
	var id trace.TraceID
	if b, err := hex.DecodeString(s); err == nil && len(b) == len(id) {
		copy(id[:], b)
	}
	return id
}

func spanID(s string) trace.SpanID {
	var id trace.SpanID
	if b, err := hex.DecodeString(s); err == nil && len(b) == len(id) {
		copy(id[:], b)
	}
	return id
}

// keyValues converts a flattened attribute map back, sorted by key.
func keyValues(m map[string]any) []attribute.KeyValue {
	if len(m) == 0 {
		return nil
	}
	out := make([]attribute.KeyValue, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, attribute.KeyValue{Key: attribute.Key(k), Value: otlpjson.Value(m[k])})
	}
	return out
}
