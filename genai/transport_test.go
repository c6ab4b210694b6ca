package genai_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/trace"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/crsteltest"
	"github.com/crstel/crstel/genai"
)

// TestTransport makes each kind of call through the transport, inside an
// action, and checks the spans against the specification and the GenAI
// conventions, and that the caller gets what the server sent.
func TestTransport(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		path     string
		req      string
		resp     canned
		wantName string
		want     []attribute.KeyValue
		none     []attribute.Key // attributes that must not be there
		errType  string          // error.type, "" for success
		stream   bool
		readErr  bool // the caller's read fails
	}{
		{
			name: "openai", path: "/v1/chat/completions", req: openAIRequest, resp: jsonResponse(openAIResponse),
			wantName: "chat gpt-4o-mini",
			want: []attribute.KeyValue{
				genai.OperationNameKey.String("chat"), genai.ProviderNameKey.String("openai"),
				genai.RequestModelKey.String("gpt-4o-mini"), genai.RequestMaxTokensKey.Int64(2048),
				genai.RequestTemperatureKey.Float64(0.7), genai.RequestTopPKey.Float64(1),
				genai.RequestFrequencyPenaltyKey.Float64(0), genai.RequestPresencePenaltyKey.Float64(0.5),
				genai.RequestStopSequencesKey.StringSlice([]string{"\n\n"}), genai.RequestSeedKey.Int64(42),
				genai.ServerAddressKey.String("127.0.0.1"),
				genai.ResponseIDKey.String("chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT"),
				genai.ResponseModelKey.String("gpt-4o-mini-2024-07-18"),
				genai.ResponseFinishReasonsKey.StringSlice([]string{"stop"}),
				genai.UsageInputTokensKey.Int64(19), genai.UsageOutputTokensKey.Int64(10),
				genai.UsageCacheReadInputTokensKey.Int64(4), genai.UsageReasoningOutputTokensKey.Int64(2),
			},
			none: []attribute.Key{genai.RequestChoiceCountKey, genai.RequestStreamKey, genai.ResponseTimeToFirstChunkKey, genai.ErrorTypeKey},
		},
		{
			name: "openai streamed", path: "/v1/chat/completions", stream: true,
			req:  `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}],"stream":true,"stream_options":{"include_usage":true}}`,
			resp: streamResponse(openAIStream), wantName: "chat gpt-4o-mini",
			want: []attribute.KeyValue{
				genai.RequestStreamKey.Bool(true), genai.ResponseIDKey.String("chatcmpl-stream1"),
				genai.ResponseModelKey.String("gpt-4o-mini-2024-07-18"),
				genai.ResponseFinishReasonsKey.StringSlice([]string{"stop"}),
				genai.UsageInputTokensKey.Int64(19), genai.UsageOutputTokensKey.Int64(4),
			},
		},
		{
			name: "completions", path: "/v1/completions", req: completionsRequest, resp: jsonResponse(completionsResponse),
			wantName: "text_completion gpt-3.5-turbo-instruct",
			want: []attribute.KeyValue{
				genai.OperationNameKey.String("text_completion"), genai.RequestMaxTokensKey.Int64(7),
				genai.RequestTemperatureKey.Float64(0), genai.ResponseIDKey.String("cmpl-uqkvlQyYK7bGYrRHQ0eXlWi7"),
				genai.ResponseFinishReasonsKey.StringSlice([]string{"length"}),
				genai.UsageInputTokensKey.Int64(5), genai.UsageOutputTokensKey.Int64(7),
			},
		},
		{
			name: "embeddings", path: "/v1/embeddings", req: embeddingsRequest, resp: jsonResponse(embeddingsResponse),
			wantName: "embeddings text-embedding-3-small",
			want: []attribute.KeyValue{
				genai.OperationNameKey.String("embeddings"), genai.ProviderNameKey.String("openai"),
				genai.RequestEncodingFormatsKey.StringSlice([]string{"float"}),
				genai.ResponseModelKey.String("text-embedding-3-small"), genai.UsageInputTokensKey.Int64(8),
			},
			none: []attribute.Key{genai.ResponseIDKey, genai.UsageOutputTokensKey},
		},
		{
			name: "anthropic", path: "/v1/messages", req: anthropicRequest, resp: jsonResponse(anthropicResponse),
			wantName: "chat claude-sonnet-4-5",
			want: []attribute.KeyValue{
				genai.OperationNameKey.String("chat"), genai.ProviderNameKey.String("anthropic"),
				genai.RequestModelKey.String("claude-sonnet-4-5"), genai.RequestMaxTokensKey.Int64(1024),
				genai.RequestTemperatureKey.Float64(0.5), genai.RequestTopKKey.Float64(40),
				genai.RequestStopSequencesKey.StringSlice([]string{"END"}),
				genai.ResponseIDKey.String("msg_013Zva2CMHLNnXjNJJKqJ2EF"),
				genai.ResponseModelKey.String("claude-sonnet-4-5-20250929"),
				genai.ResponseFinishReasonsKey.StringSlice([]string{"end_turn"}),
				// input_tokens counts the cached tokens in, as the conventions ask.
				genai.UsageInputTokensKey.Int64(2095 + 100 + 50), genai.UsageOutputTokensKey.Int64(503),
				genai.UsageCacheReadInputTokensKey.Int64(50), genai.UsageCacheCreationInputTokensKey.Int64(100),
			},
		},
		{
			name: "anthropic streamed", path: "/v1/messages", stream: true,
			req:  `{"model":"claude-sonnet-4-5","max_tokens":256,"stream":true,"messages":[{"role":"user","content":"Hello"}]}`,
			resp: streamResponse(anthropicStream), wantName: "chat claude-sonnet-4-5",
			want: []attribute.KeyValue{
				genai.ProviderNameKey.String("anthropic"), genai.RequestStreamKey.Bool(true),
				genai.ResponseIDKey.String("msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY"),
				genai.ResponseModelKey.String("claude-sonnet-4-5-20250929"),
				genai.ResponseFinishReasonsKey.StringSlice([]string{"end_turn"}),
				genai.UsageInputTokensKey.Int64(30), genai.UsageOutputTokensKey.Int64(15),
				genai.UsageCacheReadInputTokensKey.Int64(5),
			},
		},
		{
			name: "429", path: "/v1/chat/completions", req: openAIRequest, errType: "429",
			resp: canned{status: 429, header: map[string]string{"Content-Type": "application/json", "Retry-After": "20"}, chunks: []string{
				`{"error":{"message":"Rate limit reached for gpt-4o-mini in organization org-x on tokens per min (TPM). Key ` + apiKey + ` is over.","type":"tokens","param":null,"code":"rate_limit_exceeded"}}`}},
			wantName: "chat gpt-4o-mini",
		},
		{
			name: "500", path: "/v1/messages", req: anthropicRequest, errType: "500",
			resp: canned{status: 500, header: map[string]string{"Content-Type": "application/json"}, chunks: []string{
				`{"type":"error","error":{"type":"api_error","message":"Internal server error"}}`}},
			wantName: "chat claude-sonnet-4-5",
		},
		{
			name: "malformed", path: "/v1/chat/completions", req: openAIRequest, errType: "malformed_response",
			resp: jsonResponse(`{"id":"chatcmpl-1","choices":[{"index":0,`), wantName: "chat gpt-4o-mini",
		},
		{
			name: "truncated stream", path: "/v1/chat/completions", stream: true, errType: "incomplete_stream",
			req:  `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}],"stream":true}`,
			resp: streamResponse(openAIStream[:3]), wantName: "chat gpt-4o-mini",
			want: []attribute.KeyValue{genai.ResponseIDKey.String("chatcmpl-stream1")},
		},
		{
			name: "stream cut mid-event", path: "/v1/messages", stream: true, errType: "incomplete_stream", readErr: true,
			req: `{"model":"claude-sonnet-4-5","max_tokens":256,"stream":true,"messages":[{"role":"user","content":"Hello"}]}`,
			resp: func() canned {
				c := streamResponse(append(slices.Clone(anthropicStream[:4]), anthropicStream[4][:30]))
				c.cut = true
				return c
			}(),
			wantName: "chat claude-sonnet-4-5",
			want:     []attribute.KeyValue{genai.ResponseIDKey.String("msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY")},
		},
		{
			name: "openai error chunk", path: "/v1/chat/completions", stream: true, errType: "server_error",
			req: `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}],"stream":true}`,
			resp: streamResponse([]string{openAIStream[0],
				`data: {"error":{"message":"The server had an error while processing your request.","type":"server_error","param":null,"code":null}}` + "\n\n",
				"data: [DONE]\n\n"}),
			wantName: "chat gpt-4o-mini",
			want:     []attribute.KeyValue{genai.ResponseIDKey.String("chatcmpl-stream1")},
		},
		{
			name: "anthropic error event", path: "/v1/messages", stream: true, errType: "overloaded_error",
			req: `{"model":"claude-sonnet-4-5","max_tokens":256,"stream":true,"messages":[{"role":"user","content":"Hello"}]}`,
			resp: streamResponse(append(slices.Clone(anthropicStream[:2]),
				"event: error\n"+`data: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`+"\n\n")),
			wantName: "chat claude-sonnet-4-5",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec, ctx, action := inAction(t)
			srv, got := serve(t, tt.resp)
			client := newClient(t)

			resp := post(t, ctx, client, srv.URL+tt.path, tt.req)
			body, err := io.ReadAll(resp.Body)
			if (err != nil) != tt.readErr {
				t.Errorf("reading the body: %v, want an error: %t", err, tt.readErr)
			}
			resp.Body.Close()
			action.End()

			if want := tt.resp.body(); !bytes.Equal(body, want) {
				t.Errorf("the caller got the body\n%q\nwant what the server sent\n%q", body, want)
			}
			if resp.StatusCode != tt.resp.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.resp.status)
			}
			for k, v := range tt.resp.header {
				if g := resp.Header.Get(k); g != v {
					t.Errorf("header %s = %q, want %q", k, g, v)
				}
			}
			if sent, _ := got.last(); string(sent) != tt.req {
				t.Errorf("the server got the request body %q, want %q", sent, tt.req)
			}

			spans := rec.Ended()
			crsteltest.AssertConforms(t, spans, crsteltest.WantMetadata(task))
			noSecrets(t, spans)
			llm := only(t, spans, genai.ScopeName)
			act := only(t, spans, crstel.ScopeName)
			if llm.Name() != tt.wantName {
				t.Errorf("span name %q, want %q", llm.Name(), tt.wantName)
			}
			if llm.SpanKind() != trace.SpanKindClient {
				t.Errorf("span kind %v, want client", llm.SpanKind())
			}
			if llm.Parent().SpanID() != act.SpanContext().SpanID() {
				t.Error("the LLM span is not the action's child")
			}
			a := attrs(llm.Attributes())
			wantAttrs(t, a, tt.want...)
			wantAttrs(t, a, genai.ServerPortKey.Int64(int64(port(t, srv))), genai.ServerAddressKey.String("127.0.0.1"),
				crs.ActionCategory(crs.PatchGeneration), crs.ActionName("generate_patch"))
			noAttrs(t, a, tt.none...)
			noAttrs(t, a, genai.InputMessagesKey, genai.OutputMessagesKey, genai.SystemInstructionsKey)
			for k, v := range a {
				if strings.HasPrefix(string(k), "gen_ai.usage.") && !strings.HasPrefix(string(k), "gen_ai.usage.cost.") && v.Type() != attribute.INT64 {
					t.Errorf("%s is %s, want INT64", k, v.Type())
				}
			}
			// Every call that used tokens is priced (the fixtures' models
			// are in the default table) or marked unpriced.
			if _, used := a[genai.UsageInputTokensKey]; used {
				_, priced := a[genai.CostAmountKey]
				_, unpriced := a[genai.CostUnpricedKey]
				if priced == unpriced {
					t.Errorf("a call with usage: cost amount %v, unpriced %v; want exactly one", a[genai.CostAmountKey], a[genai.CostUnpricedKey])
				}
			}
			if id, ok := a[genai.ResponseIDKey]; ok {
				wantAttrs(t, a, crs.GenAIID(id.AsString()))
				wantAttrs(t, attrs(act.Attributes()), crs.GenAIID(id.AsString()))
			} else {
				noAttrs(t, attrs(act.Attributes()), crs.GenAIIDKey)
			}
			if tt.stream {
				if v, ok := a[genai.ResponseTimeToFirstChunkKey]; !ok || v.AsFloat64() <= 0 {
					t.Errorf("time_to_first_chunk = %v, want > 0", v.String())
				}
			}
			if tt.errType == "" {
				if llm.Status().Code == codes.Error {
					t.Errorf("status %v, want not an error", llm.Status())
				}
				return
			}
			wantAttrs(t, a, genai.ErrorTypeKey.String(tt.errType))
			if llm.Status().Code != codes.Error {
				t.Errorf("status %v, want an error", llm.Status())
			}
			if tt.errType == "429" && !strings.Contains(llm.Status().Description, "Rate limit reached") {
				t.Errorf("status description %q, want the API's message", llm.Status().Description)
			}
		})
	}
}

// TestTransportPassThrough: requests the transport does not know reach the
// base transport as they are, and make no span.
func TestTransportPassThrough(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ method, path string }{
		{"GET", "/v1/models"},
		{"POST", "/v1/files"},
		{"POST", "/v1/responses"},
		{"GET", "/v1/chat/completions"},
		{"POST", "/v1/messages/count_tokens"},
	} {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			t.Parallel()
			rec, ctx, action := inAction(t)
			srv, _ := serve(t, jsonResponse(`{"object":"list","data":[]}`))
			base := &recordingRT{base: http.DefaultTransport}
			client := &http.Client{Transport: genai.NewTransport(base)}
			req, _ := http.NewRequestWithContext(ctx, tt.method, srv.URL+tt.path, strings.NewReader(`{"model":"gpt-4o-mini"}`))
			req.Header.Set("Baggage", "round.id=round-1")
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			action.End()
			if got := base.requests(); len(got) != 1 || got[0] != req {
				t.Errorf("the base transport got %v, want the caller's request %p itself", got, req)
			}
			if got := scopeSpans(rec.Ended(), genai.ScopeName); len(got) != 0 {
				t.Errorf("spans %v, want none", names(got))
			}
		})
	}
}

// recordingRT records the requests it passes on.
type recordingRT struct {
	base http.RoundTripper
	mu   sync.Mutex
	reqs []*http.Request
	// target, if set, is where requests go instead of their URL's host,
	// so that a test server can stand in for api.openai.com.
	target *url.URL
}

func (r *recordingRT) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.reqs = append(r.reqs, req)
	r.mu.Unlock()
	if r.target != nil {
		req = req.Clone(req.Context())
		req.URL.Scheme, req.URL.Host, req.Host = r.target.Scheme, r.target.Host, ""
	}
	return r.base.RoundTrip(req)
}

func (r *recordingRT) requests() []*http.Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.reqs)
}

// TestTransportRequestBody: the request body reaches the server whole and
// the same, whatever its size, and redirects can send it again.
func TestTransportRequestBody(t *testing.T) {
	t.Parallel()
	huge := func(n int) string {
		var b strings.Builder
		b.WriteString(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"`)
		for b.Len() < n {
			b.WriteString("0123456789abcdef")
		}
		b.WriteString(`"}]}`)
		return b.String()
	}
	exactly := func(n int) string { // a request of n bytes
		const head, tail = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"`, `"}]}`
		return head + strings.Repeat("x", n-len(head)-len(tail)) + tail
	}
	tests := []struct {
		name      string
		body      string
		opts      []genai.TransportOption
		wantModel bool
		chunked   bool // no Content-Length, no GetBody
	}{
		{name: "small", body: openAIRequest, wantModel: true},
		{name: "over WithMaxBodyBytes", body: huge(200 << 10), opts: []genai.TransportOption{genai.WithMaxBodyBytes(64 << 10)}},
		{name: "over DefaultMaxBodyBytes", body: huge(genai.DefaultMaxBodyBytes + 1<<20)},
		{name: "at the limit", body: exactly(64 << 10), opts: []genai.TransportOption{genai.WithMaxBodyBytes(64 << 10)}, wantModel: true},
		{name: "a byte over the limit", body: exactly(64<<10 + 1), opts: []genai.TransportOption{genai.WithMaxBodyBytes(64 << 10)}},
		{name: "chunked small", body: openAIRequest, wantModel: true, chunked: true},
		{name: "chunked over the limit", body: huge(100 << 10), opts: []genai.TransportOption{genai.WithMaxBodyBytes(8 << 10)}, chunked: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec, ctx, action := inAction(t)
			srv, got := serve(t, jsonResponse(openAIResponse))
			base := &recordingRT{base: http.DefaultTransport}
			client := &http.Client{Transport: genai.NewTransport(base, tt.opts...)}
			var body io.Reader = strings.NewReader(tt.body)
			if tt.chunked {
				body = io.MultiReader(body) // hides the length
			}
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/v1/chat/completions", body)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			action.End()

			sent, _ := got.last()
			if sha256.Sum256(sent) != sha256.Sum256([]byte(tt.body)) {
				t.Errorf("the server got %d bytes, not the %d sent", len(sent), len(tt.body))
			}
			r2 := base.requests()[0]
			if r2 == req {
				t.Error("the base transport got the caller's request, want a copy")
			}
			if r2.ContentLength != req.ContentLength {
				t.Errorf("ContentLength %d, want %d", r2.ContentLength, req.ContentLength)
			}
			if (r2.GetBody == nil) != (req.GetBody == nil) {
				t.Errorf("GetBody set: %t, want %t", r2.GetBody != nil, req.GetBody != nil)
			}
			if req.GetBody != nil {
				rc, _ := r2.GetBody()
				again, _ := io.ReadAll(rc)
				if string(again) != tt.body {
					t.Error("GetBody does not give the body again")
				}
			}
			a := attrs(only(t, rec.Ended(), genai.ScopeName).Attributes())
			if _, ok := a[genai.RequestModelKey]; ok != tt.wantModel {
				t.Errorf("gen_ai.request.model recorded: %t, want %t (parsed only within the limit)", ok, tt.wantModel)
			}
			wantAttrs(t, a, genai.ResponseIDKey.String("chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT"))
		})
	}
}

// TestTransportRedirect: a 307 makes the client send the body again
// (through GetBody); each hop is a call.
func TestTransportRedirect(t *testing.T) {
	t.Parallel()
	rec, ctx, action := inAction(t)
	var mu sync.Mutex
	var bodies []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
		if strings.HasPrefix(r.URL.Path, "/old/") {
			http.Redirect(w, r, "/new/v1/chat/completions", http.StatusTemporaryRedirect)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, openAIResponse)
	}))
	defer srv.Close()
	resp := post(t, ctx, newClient(t), srv.URL+"/old/v1/chat/completions", openAIRequest)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	action.End()
	if want := []string{openAIRequest, openAIRequest}; !slices.Equal(bodies, want) {
		t.Errorf("the server got %q, want the body twice", bodies)
	}
	spans := scopeSpans(rec.Ended(), genai.ScopeName)
	if len(spans) != 2 {
		t.Fatalf("%d LLM spans, want 2 (one per hop)", len(spans))
	}
	crsteltest.AssertConforms(t, rec.Ended(), crsteltest.WantMetadata(task))
	wantAttrs(t, attrs(spans[1].Attributes()), genai.ResponseIDKey.String("chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT"))
	if spans[0].Status().Code == codes.Error {
		t.Errorf("the redirect's span has status %v, want no error", spans[0].Status())
	}
}

// TestTransportHeaders: trace headers are removed from requests to a
// provider's host, kept for other hosts, injected with WithPropagation;
// the caller's request is never changed.
func TestTransportHeaders(t *testing.T) {
	tests := []struct {
		name        string
		url         string
		opts        []genai.TransportOption
		wantHeaders bool // the server gets trace headers
		injected    bool // they are the LLM span's
		wantSpan    bool
	}{
		{name: "openai host", url: "https://api.openai.com/v1/chat/completions", wantSpan: true},
		{name: "anthropic host", url: "https://api.anthropic.com/v1/messages", wantSpan: true},
		{name: "azure host", url: "https://crs.openai.azure.com/openai/deployments/gpt-4o-mini/chat/completions?api-version=2024-10-21", wantSpan: true},
		{name: "unknown path on a provider's host", url: "https://api.openai.com/v1/responses"},
		{name: "own proxy", url: "http://litellm.internal:4000/v1/chat/completions", wantHeaders: true, wantSpan: true},
		{name: "WithPropagation", url: "https://api.openai.com/v1/chat/completions", opts: []genai.TransportOption{genai.WithPropagation()},
			wantHeaders: true, injected: true, wantSpan: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []crsteltest.RecorderOption
			if tt.injected {
				// Serial: WithPropagation injects with the global
				// propagator (otel.SetTextMapPropagator).
				opts = append(opts, crsteltest.WithGlobal())
			} else {
				t.Parallel()
			}
			rec, ctx, action := inAction(t, opts...)
			srv, got := serve(t, jsonResponse(openAIResponse))
			target, _ := url.Parse(srv.URL)
			client := &http.Client{Transport: genai.NewTransport(&recordingRT{base: http.DefaultTransport, target: target}, tt.opts...)}

			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, tt.url, strings.NewReader(openAIRequest))
			req.Header.Set("Authorization", "Bearer "+apiKey)
			// As an outer otelhttp would.
			propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}).
				Inject(ctx, propagation.HeaderCarrier(req.Header))
			req.Header.Set("Tracestate", "vendor=x")
			before := req.Header.Clone()
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			action.End()

			if !reflect.DeepEqual(req.Header, before) {
				t.Errorf("the caller's headers changed:\n%v\nwant\n%v", req.Header, before)
			}
			_, h := got.last()
			for _, k := range []string{"Traceparent", "Baggage"} {
				if (h.Get(k) != "") != tt.wantHeaders {
					t.Errorf("the server got %s %q, want one: %t", k, h.Get(k), tt.wantHeaders)
				}
			}
			if h.Get("Authorization") != "Bearer "+apiKey {
				t.Error("the Authorization header did not reach the server")
			}
			spans := rec.Ended()
			crsteltest.AssertConforms(t, spans, crsteltest.WantMetadata(task))
			noSecrets(t, spans)
			llms := scopeSpans(spans, genai.ScopeName)
			if (len(llms) == 1) != tt.wantSpan {
				t.Fatalf("LLM spans %v, want one: %t", names(llms), tt.wantSpan)
			}
			if tt.injected {
				sc := llms[0].SpanContext()
				if want := fmt.Sprintf("00-%s-%s-01", sc.TraceID(), sc.SpanID()); h.Get("Traceparent") != want {
					t.Errorf("traceparent %q, want the LLM span's %q", h.Get("Traceparent"), want)
				}
				if !strings.Contains(h.Get("Baggage"), "task.id=task-1") {
					t.Errorf("baggage %q, want the task metadata", h.Get("Baggage"))
				}
				if h.Get("Tracestate") == "vendor=x" {
					t.Error("the stale tracestate of the outer span was passed on")
				}
			}
			if !tt.wantSpan {
				return
			}
			u, _ := url.Parse(tt.url)
			a := attrs(llms[0].Attributes())
			wantAttrs(t, a, genai.ServerAddressKey.String(u.Hostname()))
			switch u.Hostname() {
			case "api.anthropic.com":
				wantAttrs(t, a, genai.ProviderNameKey.String("anthropic"), genai.ServerPortKey.Int64(443))
			case "crs.openai.azure.com":
				wantAttrs(t, a, genai.ProviderNameKey.String("azure.ai.openai"), genai.RequestModelKey.String("gpt-4o-mini"))
			case "litellm.internal":
				wantAttrs(t, a, genai.ProviderNameKey.String("openai"), genai.ServerPortKey.Int64(4000))
			default:
				wantAttrs(t, a, genai.ProviderNameKey.String("openai"), genai.ServerPortKey.Int64(443))
			}
			for _, kv := range llms[0].Attributes() {
				if strings.Contains(kv.Value.String(), "api-version") {
					t.Errorf("%s = %s holds the query string", kv.Key, kv.Value.String())
				}
			}
		})
	}
}

// TestTransportProvider: WithProviderName wins, then the host, then the wire
// format.
func TestTransportProvider(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url, want string
		opts      []genai.TransportOption
	}{
		{url: "https://api.groq.com/openai/v1/chat/completions", want: "groq"},
		{url: "https://api.deepseek.com/chat/completions", want: "deepseek"},
		{url: "https://api.mistral.ai/v1/chat/completions", want: "mistral_ai"},
		{url: "https://api.x.ai/v1/chat/completions", want: "x_ai"},
		{url: "https://api.perplexity.ai/chat/completions", want: "perplexity"},
		{url: "https://api.cohere.ai/compatibility/v1/chat/completions", want: "cohere"},
		{url: "https://API.OpenAI.com./v1/chat/completions", want: "openai"},
		{url: "https://api.anthropic.com/v1/chat/completions", want: "anthropic"},
		{url: "http://localhost:8000/v1/messages", want: "anthropic"},
		{url: "http://localhost:8000/v1/chat/completions", want: "openai"},
		{url: "http://localhost:8000/v1/chat/completions", want: "azure.ai.openai", opts: []genai.TransportOption{genai.WithProviderName("azure.ai.openai")}},
		{url: "https://api.openai.com/v1/chat/completions", want: "groq", opts: []genai.TransportOption{genai.WithProviderName("groq")}},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			t.Parallel()
			rec, ctx, action := inAction(t)
			srv, _ := serve(t, jsonResponse(openAIResponse))
			target, _ := url.Parse(srv.URL)
			client := &http.Client{Transport: genai.NewTransport(&recordingRT{base: http.DefaultTransport, target: target}, tt.opts...)}
			resp := post(t, ctx, client, tt.url, openAIRequest)
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			action.End()
			wantAttrs(t, attrs(only(t, rec.Ended(), genai.ScopeName).Attributes()), genai.ProviderNameKey.String(tt.want))
		})
	}
}

// TestOptionKinds: every Option is a TransportOption; the transport's own
// options are not Options, so Start cannot be given one.
func TestOptionKinds(t *testing.T) {
	for name, o := range map[string]genai.TransportOption{
		"WithProviderName": genai.WithProviderName("groq"),
		"WithPropagation":  genai.WithPropagation(),
		"WithMaxBodyBytes": genai.WithMaxBodyBytes(1),
	} {
		if _, ok := o.(genai.Option); ok {
			t.Errorf("%s is an Option, want a TransportOption only", name)
		}
	}
	for name, o := range map[string]genai.Option{
		"WithCapture":         genai.WithCapture(genai.CaptureSpan),
		"WithRedact":          genai.WithRedact(strings.ToUpper),
		"WithTracerProvider":  genai.WithTracerProvider(nil),
		"WithMeterProvider":   genai.WithMeterProvider(nil),
		"WithMaxContentBytes": genai.WithMaxContentBytes(1),
	} {
		var _ genai.TransportOption = o // at compile time
		if o == nil {
			t.Errorf("%s is nil", name)
		}
	}
}

// endedWith returns the LLM span after the action ended, checking that it
// conforms and failed with errType.
func endedWith(t *testing.T, rec *crsteltest.Recorder, errType string) map[attribute.Key]attribute.Value {
	t.Helper()
	spans := rec.Ended()
	crsteltest.AssertConforms(t, spans, crsteltest.WantMetadata(task))
	noSecrets(t, spans)
	llm := only(t, spans, genai.ScopeName)
	a := attrs(llm.Attributes())
	if errType == "" {
		noAttrs(t, a, genai.ErrorTypeKey)
		if llm.Status().Code == codes.Error {
			t.Errorf("status %v, want no error", llm.Status())
		}
		return a
	}
	wantAttrs(t, a, genai.ErrorTypeKey.String(errType))
	if llm.Status().Code != codes.Error {
		t.Errorf("status %v, want an error", llm.Status())
	}
	return a
}

// readEvent reads from r until a blank line ends the first event.
func readEvent(t *testing.T, r io.Reader) []byte {
	t.Helper()
	var got []byte
	buf := make([]byte, 64)
	for !bytes.Contains(got, []byte("\n\n")) {
		n, err := r.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			t.Fatalf("reading the first event: %v", err)
		}
	}
	return got
}

// TestTransportCancelMidStream: a caller that cancels its context while
// reading a stream fails to read on, and the span ends as canceled, with
// what the stream said so far.
func TestTransportCancelMidStream(t *testing.T) {
	t.Parallel()
	rec, ctx, action := inAction(t)
	c := streamResponse(openAIStream[:2])
	c.hold = true
	srv, _ := serve(t, c)
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	resp := post(t, cctx, newClient(t), srv.URL+"/v1/chat/completions", `{"model":"gpt-4o-mini","stream":true,"messages":[]}`)
	readEvent(t, resp.Body)
	cancel()
	if _, err := io.ReadAll(resp.Body); !errors.Is(err, context.Canceled) {
		t.Errorf("reading after cancel: %v, want context.Canceled", err)
	}
	resp.Body.Close()
	action.End()
	a := endedWith(t, rec, "canceled")
	wantAttrs(t, a, genai.ResponseIDKey.String("chatcmpl-stream1"))
	if _, ok := a[genai.ResponseTimeToFirstChunkKey]; !ok {
		t.Error("no time_to_first_chunk")
	}
}

// TestTransportCloseEarly: a caller that closes the body before its end
// ends the call as canceled; Close from another goroutine while a Read
// waits is safe.
func TestTransportCloseEarly(t *testing.T) {
	t.Parallel()
	t.Run("stream", func(t *testing.T) {
		t.Parallel()
		rec, ctx, action := inAction(t)
		c := streamResponse(openAIStream[:2])
		c.hold = true
		srv, _ := serve(t, c)
		resp := post(t, ctx, newClient(t), srv.URL+"/v1/chat/completions", `{"model":"gpt-4o-mini","stream":true,"messages":[]}`)
		readEvent(t, resp.Body)
		done := make(chan error)
		go func() {
			_, err := io.ReadAll(resp.Body) // waits for the server
			done <- err
		}()
		resp.Body.Close() // while the Read waits, or before it: either way it fails

		if err := <-done; err == nil {
			t.Error("Read after Close: nil error")
		}
		action.End()
		endedWith(t, rec, "canceled")
	})
	t.Run("json", func(t *testing.T) {
		t.Parallel()
		rec, ctx, action := inAction(t)
		c := jsonResponse(openAIResponse[:100])
		c.hold = true
		srv, _ := serve(t, c)
		resp := post(t, ctx, newClient(t), srv.URL+"/v1/chat/completions", openAIRequest)
		buf := make([]byte, 10)
		io.ReadFull(resp.Body, buf)
		resp.Body.Close()
		action.End()
		endedWith(t, rec, "canceled")
	})
	t.Run("json decoder stops at the brace", func(t *testing.T) {
		t.Parallel()
		rec, ctx, action := inAction(t)
		// Two flushed writes: no Content-Length, so the end is known only
		// at EOF, which json.Decoder does not wait for.
		c := jsonResponse("")
		c.chunks = []string{openAIResponse[:200], openAIResponse[200:]}
		c.hold = true
		srv, _ := serve(t, c)
		resp := post(t, ctx, newClient(t), srv.URL+"/v1/chat/completions", openAIRequest)
		var v struct{ ID string }
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		action.End()
		a := endedWith(t, rec, "")
		wantAttrs(t, a, genai.ResponseIDKey.String(v.ID), genai.UsageOutputTokensKey.Int64(10))
	})
	t.Run("after the stream's terminator", func(t *testing.T) {
		t.Parallel()
		rec, ctx, action := inAction(t)
		c := streamResponse(openAIStream)
		c.hold = true // the server does not end the body: only [DONE] says it is over
		srv, _ := serve(t, c)
		resp := post(t, ctx, newClient(t), srv.URL+"/v1/chat/completions", `{"model":"gpt-4o-mini","stream":true,"messages":[]}`)
		var got []byte
		buf := make([]byte, 256)
		for !bytes.Contains(got, []byte("[DONE]\n\n")) {
			n, err := resp.Body.Read(buf)
			got = append(got, buf[:n]...)
			if err != nil {
				t.Fatal(err)
			}
		}
		resp.Body.Close()
		action.End()
		endedWith(t, rec, "")
	})
}

// TestTransportContext: a call whose context is canceled, or runs out of
// time, before the response comes fails with "canceled" or "timeout".
func TestTransportContext(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		// ctx returns the call's context; arrived is closed when the
		// request reaches the server.
		ctx     func(ctx context.Context, arrived <-chan struct{}) (context.Context, context.CancelFunc)
		errType string
	}{
		{"canceled before", func(ctx context.Context, _ <-chan struct{}) (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(ctx)
			cancel()
			return ctx, cancel
		}, "canceled"},
		{"canceled while waiting", func(ctx context.Context, arrived <-chan struct{}) (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(ctx)
			go func() { <-arrived; cancel() }()
			return ctx, cancel
		}, "canceled"},
		{"deadline", func(ctx context.Context, _ <-chan struct{}) (context.Context, context.CancelFunc) {
			return context.WithTimeout(ctx, 20*time.Millisecond)
		}, "timeout"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec, ctx, action := inAction(t)
			arrived, release := make(chan struct{}), make(chan struct{})
			var once sync.Once
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				once.Do(func() { close(arrived) })
				select { // never answers: the client gives up first
				case <-release:
				case <-r.Context().Done():
				}
			}))
			defer srv.Close()
			defer close(release)
			cctx, cancel := tt.ctx(ctx, arrived)
			defer cancel()
			req, _ := http.NewRequestWithContext(cctx, http.MethodPost, srv.URL+"/v1/chat/completions", strings.NewReader(openAIRequest))
			if _, err := newClient(t).Do(req); err == nil {
				t.Fatal("the request succeeded, want an error")
			}
			action.End()
			endedWith(t, rec, tt.errType)
		})
	}
}

// TestTransportCapture: content is recorded only when asked, where asked,
// redacted and bounded.
func TestTransportCapture(t *testing.T) {
	toolRequest := fixture("openai_chat_tools_request.json")
	toolResponse := fixture("openai_chat_tools_response.json")

	type result struct {
		system, input, output string // JSON, "" if not recorded
		where                 string // "span", "event" or ""
	}
	tests := []struct {
		name  string
		env   string
		opts  []genai.TransportOption
		path  string
		req   string
		resp  canned
		want  result
		check func(t *testing.T, r result)
	}{
		{name: "off by default", path: "/v1/chat/completions", req: openAIRequest, resp: jsonResponse(openAIResponse)},
		{name: "env false", env: "false", path: "/v1/chat/completions", req: openAIRequest, resp: jsonResponse(openAIResponse)},
		{
			name: "WithCapture(CaptureSpan)", opts: []genai.TransportOption{genai.WithCapture(genai.CaptureSpan)},
			path: "/v1/chat/completions", req: openAIRequest, resp: jsonResponse(openAIResponse),
			want: result{where: "span",
				system: `[{"type":"text","content":"You are terse."}]`,
				input:  `[{"role":"user","parts":[{"type":"text","content":"Write a short poem about OpenTelemetry"}]}]`,
				output: `[{"role":"assistant","parts":[{"type":"text","content":"Spans in a trace,\nmetrics keep their steady pace."}],"finish_reason":"stop"}]`},
		},
		{
			name: "env true", env: "true",
			path: "/v1/chat/completions", req: openAIRequest, resp: jsonResponse(openAIResponse),
			want: result{where: "span",
				system: `[{"type":"text","content":"You are terse."}]`,
				input:  `[{"role":"user","parts":[{"type":"text","content":"Write a short poem about OpenTelemetry"}]}]`,
				output: `[{"role":"assistant","parts":[{"type":"text","content":"Spans in a trace,\nmetrics keep their steady pace."}],"finish_reason":"stop"}]`},
		},
		{
			name: "env EVENT_ONLY", env: "EVENT_ONLY",
			path: "/v1/messages", req: anthropicRequest, resp: jsonResponse(anthropicResponse),
			want: result{where: "event",
				system: `[{"type":"text","content":"You are terse."}]`,
				input:  `[{"role":"user","parts":[{"type":"text","content":"Hello, Claude"}]}]`,
				output: `[{"role":"assistant","parts":[{"type":"text","content":"Hi! My name is Claude."}],"finish_reason":"end_turn"}]`},
		},
		{
			name: "WithCapture overrides the env", env: "true", opts: []genai.TransportOption{genai.WithCapture(genai.CaptureNone)},
			path: "/v1/chat/completions", req: openAIRequest, resp: jsonResponse(openAIResponse),
		},
		{
			name: "tool calls, redacted", env: "SPAN_ONLY",
			opts: []genai.TransportOption{genai.WithRedact(func(s string) string { return strings.ReplaceAll(s, "hunter2", "[MASKED]") })},
			path: "/v1/chat/completions", req: toolRequest, resp: jsonResponse(toolResponse),
			want: result{where: "span",
				system: `[{"type":"text","content":"Fix the bug. Password [MASKED]."}]`,
				input: `[{"role":"user","parts":[{"type":"text","content":"Patch vuln_module.c"}]},` +
					`{"role":"assistant","parts":[{"type":"tool_call","id":"call_1","name":"read_file","arguments":{"path":"vuln_module.c"}}]},` +
					`{"role":"tool","parts":[{"type":"tool_call_response","id":"call_1","response":"int main() { return 0; }"}]}]`,
				output: `[{"role":"assistant","parts":[{"type":"tool_call","id":"call_2","name":"write_file","arguments":{"path":"a.c"}}],"finish_reason":"tool_calls"}]`},
		},
		{
			name: "openai streamed", opts: []genai.TransportOption{genai.WithCapture(genai.CaptureSpanAndEvent)},
			path: "/v1/chat/completions", req: `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Hi"}]}`,
			resp: streamResponse(openAIStream),
			want: result{where: "span and event",
				input:  `[{"role":"user","parts":[{"type":"text","content":"Hi"}]}]`,
				output: `[{"role":"assistant","parts":[{"type":"text","content":"Spans in a trace."}],"finish_reason":"stop"}]`},
		},
		{
			name: "anthropic streamed", opts: []genai.TransportOption{genai.WithCapture(genai.CaptureSpan)},
			path: "/v1/messages", req: `{"model":"claude-sonnet-4-5","max_tokens":9,"stream":true,"system":[{"type":"text","text":"Be brief."}],"messages":[{"role":"user","content":"Hello"}]}`,
			resp: streamResponse(anthropicStream),
			want: result{where: "span",
				system: `[{"type":"text","content":"Be brief."}]`,
				input:  `[{"role":"user","parts":[{"type":"text","content":"Hello"}]}]`,
				output: `[{"role":"assistant","parts":[{"type":"text","content":"Hello!"}],"finish_reason":"end_turn"}]`},
		},
		{
			name: "bounded", opts: []genai.TransportOption{genai.WithCapture(genai.CaptureSpan), genai.WithMaxContentBytes(300)},
			path: "/v1/chat/completions",
			req:  `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"` + strings.Repeat("long prompt ", 2000) + `"}]}`,
			resp: jsonResponse(openAIResponse),
			check: func(t *testing.T, r result) {
				if len(r.input) > 300 || !json.Valid([]byte(r.input)) || !strings.Contains(r.input, "long prompt") {
					t.Errorf("input messages (%d bytes) %q, want valid JSON within 300 bytes", len(r.input), r.input)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Serial: the environment (t.Setenv) is the process's.
			t.Setenv(genai.EnvCapture, tt.env)
			rec, ctx, action := inAction(t, crsteltest.WithGlobal())
			srv, _ := serve(t, tt.resp)
			resp := post(t, ctx, newClient(t, tt.opts...), srv.URL+tt.path, tt.req)
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			action.End()
			spans := rec.Ended()
			crsteltest.AssertConforms(t, spans, crsteltest.WantMetadata(task))
			noSecrets(t, spans)
			llm := only(t, spans, genai.ScopeName)

			var got result
			var wheres []string
			fill := func(kvs []attribute.KeyValue) {
				a := attrs(kvs)
				got.system, got.input, got.output = a[genai.SystemInstructionsKey].AsString(),
					a[genai.InputMessagesKey].AsString(), a[genai.OutputMessagesKey].AsString()
			}
			a := attrs(llm.Attributes())
			if _, ok := a[genai.InputMessagesKey]; ok {
				wheres = append(wheres, "span")
				fill(llm.Attributes())
			}
			var evAttrs []attribute.KeyValue
			for _, e := range llm.Events() {
				if e.Name == genai.EventName {
					evAttrs = append(evAttrs, e.Attributes...)
				}
			}
			if len(evAttrs) > 0 {
				wheres = append(wheres, "event")
				fill(evAttrs)
			}
			got.where = strings.Join(wheres, " and ")
			if tt.check != nil {
				tt.check(t, got)
				return
			}
			if got.where != tt.want.where {
				t.Errorf("content recorded in %q, want %q", got.where, tt.want.where)
			}
			for _, c := range []struct{ name, got, want string }{
				{"system instructions", got.system, tt.want.system},
				{"input messages", got.input, tt.want.input},
				{"output messages", got.output, tt.want.output},
			} {
				if c.got != c.want {
					t.Errorf("%s\n got %s\nwant %s", c.name, c.got, c.want)
				}
			}
			if strings.Contains(got.system+got.input+got.output, "hunter2") {
				t.Error("the redact function was not applied")
			}
		})
	}
}

// TestTransportMetrics: the GenAI histograms, with the conventions'
// buckets and attributes.
func TestTransportMetrics(t *testing.T) {
	t.Parallel()
	_, ctx, action := inAction(t)
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	srv, _ := serve(t, jsonResponse(openAIResponse))
	client := newClient(t, genai.WithMeterProvider(mp))
	for range 2 {
		resp := post(t, ctx, client, srv.URL+"/v1/chat/completions", openAIRequest)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	errSrv, _ := serve(t, canned{status: 503, chunks: []string{"overloaded"}})
	resp := post(t, ctx, client, errSrv.URL+"/v1/chat/completions", openAIRequest)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	action.End()

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	var tokens metricdata.Histogram[int64]
	var duration metricdata.Histogram[float64]
	var found int
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != genai.ScopeName {
			continue
		}
		for _, m := range sm.Metrics {
			switch m.Name {
			case genai.MetricTokenUsage:
				tokens, found = m.Data.(metricdata.Histogram[int64]), found+1
				if m.Unit != "{token}" {
					t.Errorf("%s unit %q, want {token}", m.Name, m.Unit)
				}
			case genai.MetricOperationDuration:
				duration, found = m.Data.(metricdata.Histogram[float64]), found+1
				if m.Unit != "s" {
					t.Errorf("%s unit %q, want s", m.Name, m.Unit)
				}
			}
		}
	}
	if found != 2 {
		t.Fatalf("found %d of the 2 GenAI metrics in %+v", found, rm.ScopeMetrics)
	}
	sums := map[string]int64{}
	for _, dp := range tokens.DataPoints {
		if !slices.Equal(dp.Bounds, genai.TokenUsageBuckets) {
			t.Errorf("token usage buckets %v, want %v", dp.Bounds, genai.TokenUsageBuckets)
		}
		typ, _ := dp.Attributes.Value(genai.TokenTypeKey)
		sums[typ.AsString()] += dp.Sum
		for _, k := range []attribute.Key{genai.OperationNameKey, genai.ProviderNameKey, genai.RequestModelKey, genai.ResponseModelKey, genai.ServerAddressKey} {
			if !dp.Attributes.HasValue(k) {
				t.Errorf("token usage point without %s: %v", k, dp.Attributes.ToSlice())
			}
		}
	}
	if want := map[string]int64{"input": 38, "output": 20}; !reflect.DeepEqual(sums, want) {
		t.Errorf("token usage sums %v, want %v", sums, want)
	}
	var calls uint64
	var errTypes []string
	for _, dp := range duration.DataPoints {
		if !slices.Equal(dp.Bounds, genai.DurationBuckets) {
			t.Errorf("duration buckets %v, want %v", dp.Bounds, genai.DurationBuckets)
		}
		calls += dp.Count
		if v, ok := dp.Attributes.Value(genai.ErrorTypeKey); ok {
			errTypes = append(errTypes, v.AsString())
		}
	}
	if calls != 3 || !slices.Equal(errTypes, []string{"503"}) {
		t.Errorf("duration: %d calls, error types %v; want 3 calls, one 503", calls, errTypes)
	}
}

// TestTransportConcurrent makes calls of every kind at once through one
// transport; run with -race.
func TestTransportConcurrent(t *testing.T) {
	t.Parallel()
	rec, ctx, action := inAction(t)
	plain, _ := serve(t, jsonResponse(openAIResponse))
	streamed, _ := serve(t, streamResponse(anthropicStream))
	client := newClient(t, genai.WithCapture(genai.CaptureSpan))
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			u, body := plain.URL+"/v1/chat/completions", openAIRequest
			if i%2 == 1 {
				u, body = streamed.URL+"/v1/messages", anthropicRequest
			}
			resp := post(t, ctx, client, u, body)
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		})
	}
	wg.Wait()
	action.End()
	spans := rec.Ended()
	crsteltest.AssertConforms(t, spans, crsteltest.WantMetadata(task))
	if n := len(scopeSpans(spans, genai.ScopeName)); n != 40 {
		t.Errorf("%d LLM spans, want 40", n)
	}
	for _, s := range scopeSpans(spans, genai.ScopeName) {
		if s.Status().Code == codes.Error {
			t.Errorf("span %s: %v", s.Name(), s.Status())
		}
	}
}

// TestTransportBase: a nil base is http.DefaultTransport; CloseIdleConnections
// reaches the base.
func TestTransportBase(t *testing.T) {
	base := &idleCloser{}
	c := &http.Client{Transport: genai.NewTransport(base)}
	c.CloseIdleConnections()
	if !base.closed {
		t.Error("CloseIdleConnections did not reach the base transport")
	}
	srv, _ := serve(t, jsonResponse(openAIResponse))
	resp, err := (&http.Client{Transport: genai.NewTransport(nil)}).Post(srv.URL+"/v1/chat/completions", "application/json", strings.NewReader(openAIRequest))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

type idleCloser struct{ closed bool }

func (c *idleCloser) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("unused")
}
func (c *idleCloser) CloseIdleConnections() { c.closed = true }

// TestTransportBaseError: an error of the base transport ends the call with
// it, typed.
func TestTransportBaseError(t *testing.T) {
	t.Parallel()
	rec, ctx, action := inAction(t)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close() // nothing listens there now
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/v1/chat/completions", strings.NewReader(openAIRequest))
	if _, err := newClient(t).Do(req); err == nil {
		t.Fatal("want a connection error")
	}
	action.End()
	a := endedWith(t, rec, "*net.OpError")
	wantAttrs(t, a, genai.RequestModelKey.String("gpt-4o-mini"))
}

// TestTransportCompressed: a body compressed for a caller that asked for
// it reaches the caller as sent, and is parsed if it is gzip.
func TestTransportCompressed(t *testing.T) {
	t.Parallel()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	io.WriteString(zw, openAIResponse)
	zw.Close()
	for _, tt := range []struct {
		name, encoding, acceptEncoding, body string
		wantBody                             string
		wantID                               bool
	}{
		{name: "gzip asked by the caller", encoding: "gzip", acceptEncoding: "gzip", body: gz.String(), wantBody: gz.String(), wantID: true},
		{name: "gzip asked by net/http", encoding: "gzip", body: gz.String(), wantBody: openAIResponse, wantID: true},
		{name: "brotli", encoding: "br", acceptEncoding: "br", body: "\x1b\x00\x00not really brotli", wantBody: "\x1b\x00\x00not really brotli"},
		{name: "corrupt gzip", encoding: "gzip", acceptEncoding: "gzip", body: "\x1f\x8bnot gzip", wantBody: "\x1f\x8bnot gzip"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec, ctx, action := inAction(t)
			c := jsonResponse(tt.body)
			c.header["Content-Encoding"] = tt.encoding
			srv, _ := serve(t, c)
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/v1/chat/completions", strings.NewReader(openAIRequest))
			if tt.acceptEncoding != "" {
				req.Header.Set("Accept-Encoding", tt.acceptEncoding)
			}
			resp, err := newClient(t).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			action.End()
			if string(body) != tt.wantBody {
				t.Errorf("the caller got %q, want %q", body, tt.wantBody)
			}
			errType := ""
			if tt.name == "corrupt gzip" {
				errType = "malformed_response"
			}
			a := endedWith(t, rec, errType)
			if _, ok := a[genai.ResponseIDKey]; ok != tt.wantID {
				t.Errorf("response id recorded: %t, want %t", ok, tt.wantID)
			}
		})
	}
}

// TestTransportHTTP2 makes calls over HTTP/2 with TLS, whose streams and
// cancellations net/http handles apart from HTTP/1.1's.
func TestTransportHTTP2(t *testing.T) {
	t.Parallel()
	start := func(t *testing.T, c canned) (*httptest.Server, *http.Client) {
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			for k, v := range c.header {
				w.Header().Set(k, v)
			}
			for _, ch := range c.chunks {
				io.WriteString(w, ch)
				w.(http.Flusher).Flush()
			}
			if c.hold {
				<-r.Context().Done()
			}
		}))
		srv.EnableHTTP2 = true
		srv.StartTLS()
		t.Cleanup(srv.Close)
		client := &http.Client{Transport: genai.NewTransport(srv.Client().Transport)}
		t.Cleanup(client.CloseIdleConnections)
		return srv, client
	}
	t.Run("stream", func(t *testing.T) {
		t.Parallel()
		rec, ctx, action := inAction(t)
		srv, client := start(t, streamResponse(openAIStream))
		resp := post(t, ctx, client, srv.URL+"/v1/chat/completions", `{"model":"gpt-4o-mini","stream":true,"messages":[]}`)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		action.End()
		if err != nil || resp.ProtoMajor != 2 {
			t.Fatalf("read: %v, protocol %s; want HTTP/2", err, resp.Proto)
		}
		if !bytes.Equal(body, streamResponse(openAIStream).body()) {
			t.Error("the caller did not get the bytes sent")
		}
		wantAttrs(t, endedWith(t, rec, ""), genai.ResponseIDKey.String("chatcmpl-stream1"), genai.UsageOutputTokensKey.Int64(4))
	})
	t.Run("cancel mid-stream", func(t *testing.T) {
		t.Parallel()
		rec, ctx, action := inAction(t)
		c := streamResponse(openAIStream[:2])
		c.hold = true
		srv, client := start(t, c)
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		resp := post(t, cctx, client, srv.URL+"/v1/chat/completions", `{"model":"gpt-4o-mini","stream":true,"messages":[]}`)
		readEvent(t, resp.Body)
		cancel()
		if _, err := io.ReadAll(resp.Body); err == nil {
			t.Error("reading after cancel: nil error")
		}
		resp.Body.Close()
		action.End()
		endedWith(t, rec, "canceled")
	})
}

// TestTransportBodyDropped: a response dropped without closing its body
// still ends its span, once the garbage collector finds it.
func TestTransportBodyDropped(t *testing.T) {
	t.Parallel()
	rec, ctx, action := inAction(t)
	// In memory: net/http would keep the connection of an unclosed body
	// for ever.
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(strings.NewReader(openAIResponse)), ContentLength: -1, Request: r}, nil
	})
	client := &http.Client{Transport: genai.NewTransport(base)}
	func() {
		resp := post(t, ctx, client, "https://api.openai.com/v1/chat/completions", openAIRequest)
		_ = resp.StatusCode // and forgets the body
	}()
	deadline := time.Now().Add(5 * time.Second)
	for len(scopeSpans(rec.Ended(), genai.ScopeName)) == 0 && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	action.End()
	endedWith(t, rec, "body_not_closed")
}

// TestTransportErrorScrubbed: an error of the base transport that quotes
// the URL or the key reaches the span without them.
func TestTransportErrorScrubbed(t *testing.T) {
	t.Parallel()
	rec, ctx, action := inAction(t)
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return nil, &url.Error{Op: "Post", URL: r.URL.String(), Err: fmt.Errorf("proxy refused %s", r.Header.Get("Authorization"))}
	})
	client := &http.Client{Transport: genai.NewTransport(base)}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost,
		"https://generativelanguage.googleapis.com/v1beta/openai/chat/completions?key=AIzaSyA-secret-key-in-query", strings.NewReader(openAIRequest))
	req.Header.Set("Authorization", "Bearer "+apiKey)
	if _, err := client.Do(req); err == nil {
		t.Fatal("want an error")
	}
	action.End()
	endedWith(t, rec, "*url.Error")
	llm := only(t, rec.Ended(), genai.ScopeName)
	if d := llm.Status().Description; strings.Contains(d, "secret-key") || strings.Contains(d, apiKey) || !strings.Contains(d, "proxy refused") {
		t.Errorf("status %q, want the error without the key and the query", d)
	}
	wantAttrs(t, attrs(llm.Attributes()), genai.ProviderNameKey.String("gcp.gemini"))
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
