package genai_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/crsteltest"
	"github.com/crstel/crstel/genai"
)

// TestMain fails the tests if they leave goroutines behind, once the idle
// connections of http.DefaultTransport are closed.
func TestMain(m *testing.M) {
	code := m.Run()
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

var task = crs.Metadata{"round.id": "round-1", "task.id": "task-1", "team.id": "team-1"}

// apiKey is the credential every test request carries; it must appear in
// no span.
const apiKey = "sk-test-secret-0123456789abcdef"

// Bodies as the APIs send them, in testdata.
var (
	openAIRequest       = fixture("openai_chat_request.json")
	openAIResponse      = fixture("openai_chat_response.json")
	completionsRequest  = fixture("openai_completions_request.json")
	completionsResponse = fixture("openai_completions_response.json")
	embeddingsRequest   = fixture("openai_embeddings_request.json")
	embeddingsResponse  = fixture("openai_embeddings_response.json")
	anthropicRequest    = fixture("anthropic_messages_request.json")
	anthropicResponse   = fixture("anthropic_messages_response.json")
	// openAIStream is a streamed chat completion with usage in its final
	// chunk (stream_options.include_usage), one event per element.
	openAIStream = streamFixture("openai_chat_stream.sse")
	// anthropicStream is a streamed message, one event per element.
	anthropicStream = streamFixture("anthropic_messages_stream.sse")
)

// fixture returns the content of testdata/name.
func fixture(name string) string {
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		panic(err) // at init: no test could run
	}
	return string(b)
}

// streamFixture returns the events of the event stream in testdata/name,
// each with the blank line that ends it: a test server writes one at a
// time.
func streamFixture(name string) []string {
	var events []string
	for _, e := range strings.SplitAfter(fixture(name), "\n\n") {
		if e != "" {
			events = append(events, e)
		}
	}
	return events
}

// canned is a response a test server sends.
type canned struct {
	status int
	header map[string]string
	// chunks are written one by one, each flushed.
	chunks []string
	// cut makes the server drop the connection after the chunks, so that
	// the body ends short of what its framing promises.
	cut bool
	// hold makes the server wait, after the chunks, for the client to go.
	hold bool
}

func (c canned) body() []byte { return []byte(strings.Join(c.chunks, "")) }

func jsonResponse(body string) canned {
	return canned{status: 200, header: map[string]string{"Content-Type": "application/json", "X-Request-Id": "req_123"}, chunks: []string{body}}
}

func streamResponse(chunks []string) canned {
	return canned{status: 200, header: map[string]string{"Content-Type": "text/event-stream; charset=utf-8", "X-Request-Id": "req_123"}, chunks: chunks}
}

// received is what a test server got.
type received struct {
	mu     sync.Mutex
	bodies [][]byte
	header []http.Header
}

func (r *received) last() ([]byte, http.Header) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.bodies) == 0 {
		return nil, nil
	}
	return r.bodies[len(r.bodies)-1], r.header[len(r.header)-1]
}

// serve starts a server answering every request with c.
func serve(t testing.TB, c canned) (*httptest.Server, *received) {
	t.Helper()
	got := &received{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got.mu.Lock()
		got.bodies, got.header = append(got.bodies, body), append(got.header, r.Header.Clone())
		got.mu.Unlock()
		for k, v := range c.header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(c.status)
		for _, ch := range c.chunks {
			io.WriteString(w, ch)
			w.(http.Flusher).Flush()
		}
		if c.cut {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err != nil {
				t.Errorf("hijack: %v", err)
				return
			}
			conn.Close()
		}
		if c.hold {
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
				t.Errorf("server: the client never went")
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

// inAction makes a recorder with opts and starts an action, in a context
// of the recorder's with the task metadata.
func inAction(t *testing.T, opts ...crsteltest.RecorderOption) (*crsteltest.Recorder, context.Context, trace.Span) {
	t.Helper()
	rec := crsteltest.NewRecorder(t, opts...)
	ctx := crstel.WithTask(rec.Context(t.Context()), task)
	ctx, span := crstel.Action(ctx, crs.PatchGeneration, "generate_patch", nil)
	return rec, ctx, span
}

func newClient(t testing.TB, opts ...genai.TransportOption) *http.Client {
	c := &http.Client{Transport: genai.NewTransport(nil, opts...)}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// transportOptions returns opts as TransportOptions, which every Option is.
func transportOptions(opts []genai.Option) []genai.TransportOption {
	out := make([]genai.TransportOption, len(opts))
	for i, o := range opts {
		out[i] = o
	}
	return out
}

func post(t testing.TB, ctx context.Context, client *http.Client, u, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+apiKey)
	req.Header.Set("X-Api-Key", apiKey)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", u, err)
	}
	return resp
}

func scopeSpans(spans []sdktrace.ReadOnlySpan, scope string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.InstrumentationScope().Name == scope {
			out = append(out, s)
		}
	}
	return out
}

// only returns the one span of scope, failing if there is not exactly one.
func only(t *testing.T, spans []sdktrace.ReadOnlySpan, scope string) sdktrace.ReadOnlySpan {
	t.Helper()
	got := scopeSpans(spans, scope)
	if len(got) != 1 {
		t.Fatalf("%d spans of scope %s, want 1: %v", len(got), scope, names(spans))
	}
	return got[0]
}

func names(spans []sdktrace.ReadOnlySpan) []string {
	var n []string
	for _, s := range spans {
		n = append(n, s.InstrumentationScope().Name+": "+s.Name())
	}
	return n
}

func attrs(kvs []attribute.KeyValue) map[attribute.Key]attribute.Value {
	m := make(map[attribute.Key]attribute.Value, len(kvs))
	for _, kv := range kvs {
		m[kv.Key] = kv.Value
	}
	return m
}

// wantAttrs checks that got has each of want, with its type and value.
func wantAttrs(t *testing.T, got map[attribute.Key]attribute.Value, want ...attribute.KeyValue) {
	t.Helper()
	for _, kv := range want {
		v, ok := got[kv.Key]
		switch {
		case !ok:
			t.Errorf("attribute %s missing, want %s %s", kv.Key, kv.Value.Type(), kv.Value.String())
		case v.Type() != kv.Value.Type() || !reflect.DeepEqual(v.AsInterface(), kv.Value.AsInterface()):
			t.Errorf("attribute %s = %s %s, want %s %s", kv.Key, v.Type(), v.String(), kv.Value.Type(), kv.Value.String())
		}
	}
}

func noAttrs(t *testing.T, got map[attribute.Key]attribute.Value, keys ...attribute.Key) {
	t.Helper()
	for _, k := range keys {
		if v, ok := got[k]; ok {
			t.Errorf("attribute %s = %s, want none", k, v.String())
		}
	}
}

// noSecrets fails if any span holds the API key or a header.
func noSecrets(t *testing.T, spans []sdktrace.ReadOnlySpan) {
	t.Helper()
	check := func(where string, kvs []attribute.KeyValue) {
		for _, kv := range kvs {
			if strings.Contains(kv.Value.String(), apiKey) || strings.Contains(kv.Value.String(), "Bearer ") {
				t.Errorf("span %s: %s %s holds the API key", where, kv.Key, kv.Value.String())
			}
			if strings.HasPrefix(string(kv.Key), "http.request.header") || strings.Contains(strings.ToLower(string(kv.Key)), "authorization") {
				t.Errorf("span %s: header recorded as %s", where, kv.Key)
			}
		}
	}
	for _, s := range spans {
		check(s.Name(), s.Attributes())
		for _, e := range s.Events() {
			check(s.Name()+" event "+e.Name, e.Attributes)
		}
		if strings.Contains(s.Status().Description, apiKey) {
			t.Errorf("span %s: status %q holds the API key", s.Name(), s.Status().Description)
		}
	}
}

func port(t *testing.T, srv *httptest.Server) int {
	u, _ := url.Parse(srv.URL)
	p, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatal(err)
	}
	return p
}
