package genai_test

import (
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/semconv/v1.41.0/genaiconv"
	"go.opentelemetry.io/otel/trace"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/crsteltest"
	"github.com/crstel/crstel/genai"
)

// semconvValues maps each value constant of package genai, by name, to
// its value and semconv v1.41.0's.
var semconvValues = map[string][2]string{
	"OperationChat":            {genai.OperationChat, semconv.GenAIOperationNameChat.Value.AsString()},
	"OperationTextCompletion":  {genai.OperationTextCompletion, semconv.GenAIOperationNameTextCompletion.Value.AsString()},
	"OperationEmbeddings":      {genai.OperationEmbeddings, semconv.GenAIOperationNameEmbeddings.Value.AsString()},
	"OperationGenerateContent": {genai.OperationGenerateContent, semconv.GenAIOperationNameGenerateContent.Value.AsString()},
	"ProviderOpenAI":           {genai.ProviderOpenAI, semconv.GenAIProviderNameOpenAI.Value.AsString()},
	"ProviderAnthropic":        {genai.ProviderAnthropic, semconv.GenAIProviderNameAnthropic.Value.AsString()},
	"ProviderAzureAIOpenAI":    {genai.ProviderAzureAIOpenAI, semconv.GenAIProviderNameAzureAIOpenAI.Value.AsString()},
	"ProviderAzureAIInference": {genai.ProviderAzureAIInference, semconv.GenAIProviderNameAzureAIInference.Value.AsString()},
	"ProviderAWSBedrock":       {genai.ProviderAWSBedrock, semconv.GenAIProviderNameAWSBedrock.Value.AsString()},
	"ProviderGCPGemini":        {genai.ProviderGCPGemini, semconv.GenAIProviderNameGCPGemini.Value.AsString()},
	"ProviderGCPVertexAI":      {genai.ProviderGCPVertexAI, semconv.GenAIProviderNameGCPVertexAI.Value.AsString()},
	"ProviderGCPGenAI":         {genai.ProviderGCPGenAI, semconv.GenAIProviderNameGCPGenAI.Value.AsString()},
	"ProviderCohere":           {genai.ProviderCohere, semconv.GenAIProviderNameCohere.Value.AsString()},
	"ProviderDeepSeek":         {genai.ProviderDeepSeek, semconv.GenAIProviderNameDeepseek.Value.AsString()},
	"ProviderGroq":             {genai.ProviderGroq, semconv.GenAIProviderNameGroq.Value.AsString()},
	"ProviderIBMWatsonxAI":     {genai.ProviderIBMWatsonxAI, semconv.GenAIProviderNameIBMWatsonxAI.Value.AsString()},
	"ProviderMistralAI":        {genai.ProviderMistralAI, semconv.GenAIProviderNameMistralAI.Value.AsString()},
	"ProviderPerplexity":       {genai.ProviderPerplexity, semconv.GenAIProviderNamePerplexity.Value.AsString()},
	"ProviderXAI":              {genai.ProviderXAI, semconv.GenAIProviderNameXAI.Value.AsString()},
	"TokenTypeInput":           {genai.TokenTypeInput, semconv.GenAITokenTypeInput.Value.AsString()},
	"TokenTypeOutput":          {genai.TokenTypeOutput, semconv.GenAITokenTypeOutput.Value.AsString()},
	"MetricTokenUsage":         {genai.MetricTokenUsage, genaiconv.ClientTokenUsage{}.Name()},
	"MetricOperationDuration":  {genai.MetricOperationDuration, genaiconv.ClientOperationDuration{}.Name()},
}

// keysGo returns the constants of keys.go: the names of the keys taken
// from semconv v1.41.0, those of the keys defined otherwise, and those of
// the other constants (values and metric names).
func keysGo(t *testing.T) (fromSemconv, ownKeys, others []string) {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "keys.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			for i, name := range vs.Names {
				switch v := vs.Values[i].(type) {
				case *ast.SelectorExpr:
					if x, ok := v.X.(*ast.Ident); ok && x.Name == "semconv" {
						fromSemconv = append(fromSemconv, name.Name)
						continue
					}
					ownKeys = append(ownKeys, name.Name)
				case *ast.CallExpr: // attribute.Key("...")
					ownKeys = append(ownKeys, name.Name)
				default:
					others = append(others, name.Name)
				}
			}
		}
	}
	return fromSemconv, ownKeys, others
}

// TestKeysMatchSemconv checks that every key of keys.go comes from semconv
// v1.41.0, and every value and metric name against it and its genaiconv
// metrics.
func TestKeysMatchSemconv(t *testing.T) {
	for name, v := range semconvValues {
		if v[0] != v[1] {
			t.Errorf("%s = %q, semconv v1.41.0 says %q", name, v[0], v[1])
		}
	}
	fromSemconv, ownKeys, others := keysGo(t)
	if len(fromSemconv) < 30 || len(others) < 20 {
		t.Fatalf("found %d keys from semconv and %d other constants in keys.go; is the parse right?", len(fromSemconv), len(others))
	}
	for _, name := range ownKeys {
		t.Errorf("key %s of keys.go does not come from semconv v1.41.0", name)
	}
	for _, name := range others {
		if _, ok := semconvValues[name]; !ok {
			t.Errorf("constant %s of keys.go is not cross-checked; add it to semconvValues", name)
		}
	}
	for _, m := range []struct{ name, unit, want string }{
		{genai.MetricTokenUsage, "{token}", genaiconv.ClientTokenUsage{}.Unit()},
		{genai.MetricOperationDuration, "s", genaiconv.ClientOperationDuration{}.Unit()},
	} {
		if m.unit != m.want {
			t.Errorf("%s: unit %q, genaiconv says %q", m.name, m.unit, m.want)
		}
	}
}

// TestStartEnd traces calls by hand, inside an action.
func TestStartEnd(t *testing.T) {
	t.Parallel()
	temp, seed := 0.2, 7
	tests := []struct {
		name     string
		req      genai.Request
		resp     genai.Response
		err      error
		chunk    bool
		wantName string
		want     []attribute.KeyValue
		errType  string
	}{
		{
			name: "success",
			req: genai.Request{Provider: genai.ProviderOpenAI, Model: "gpt-4o-mini", ServerAddress: "api.openai.com", ServerPort: 443,
				MaxTokens: 100, Temperature: &temp, Seed: &seed, StopSequences: []string{"END"}, ChoiceCount: 2},
			resp: genai.Response{ID: "chatcmpl-1", Model: "gpt-4o-mini-2024-07-18", FinishReasons: []string{"stop", "length"},
				InputTokens: 12, OutputTokens: 34, CacheReadInputTokens: 5, ReasoningOutputTokens: 6},
			wantName: "chat gpt-4o-mini",
			want: []attribute.KeyValue{
				genai.OperationNameKey.String("chat"), genai.ProviderNameKey.String("openai"),
				genai.RequestModelKey.String("gpt-4o-mini"), genai.ServerAddressKey.String("api.openai.com"),
				genai.ServerPortKey.Int(443), genai.RequestMaxTokensKey.Int(100), genai.RequestTemperatureKey.Float64(0.2),
				genai.RequestSeedKey.Int(7), genai.RequestStopSequencesKey.StringSlice([]string{"END"}),
				genai.RequestChoiceCountKey.Int(2),
				genai.ResponseIDKey.String("chatcmpl-1"), crs.GenAIID("chatcmpl-1"),
				genai.ResponseModelKey.String("gpt-4o-mini-2024-07-18"),
				genai.ResponseFinishReasonsKey.StringSlice([]string{"stop", "length"}),
				genai.UsageInputTokensKey.Int(12), genai.UsageOutputTokensKey.Int(34),
				genai.UsageCacheReadInputTokensKey.Int(5), genai.UsageReasoningOutputTokensKey.Int(6),
			},
		},
		{
			name: "streamed", req: genai.Request{Operation: genai.OperationChat, Model: "claude-sonnet-4-5", Stream: true},
			resp: genai.Response{ID: "msg_1"}, chunk: true, wantName: "chat claude-sonnet-4-5",
			want: []attribute.KeyValue{genai.RequestStreamKey.Bool(true)},
		},
		{
			name: "no model", req: genai.Request{Operation: genai.OperationEmbeddings}, wantName: "embeddings",
		},
		{
			name: "typed error", req: genai.Request{Model: "m"}, err: statusErr(429), wantName: "chat m", errType: "429",
		},
		{
			name: "timeout", req: genai.Request{Model: "m"}, err: fmt.Errorf("call: %w", context.DeadlineExceeded),
			wantName: "chat m", errType: "timeout",
		},
		{
			name: "canceled", req: genai.Request{Model: "m"}, err: context.Canceled, wantName: "chat m", errType: "canceled",
		},
		{
			name: "other error", req: genai.Request{Model: "m"}, err: errors.New("boom"), wantName: "chat m", errType: "*errors.errorString",
			resp: genai.Response{ID: "partial-1", OutputTokens: 3},
			want: []attribute.KeyValue{genai.ResponseIDKey.String("partial-1"), genai.UsageOutputTokensKey.Int(3)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec, ctx, action := inAction(t)
			cctx, call := genai.Start(ctx, tt.req)
			if got := trace.SpanFromContext(cctx); got != call.Span() {
				t.Error("the returned context does not hold the call's span")
			}
			if tt.chunk {
				time.Sleep(time.Millisecond)
				call.FirstChunk()
				call.FirstChunk()
			}
			call.End(tt.resp, tt.err)
			call.End(genai.Response{ID: "second"}, errors.New("ignored")) // only the first End counts
			action.End()

			spans := rec.Ended()
			crsteltest.AssertConforms(t, spans, crsteltest.WantMetadata(task))
			llm := only(t, spans, genai.ScopeName)
			if llm.Name() != tt.wantName || llm.SpanKind() != trace.SpanKindClient {
				t.Errorf("span %q of kind %v, want %q of kind client", llm.Name(), llm.SpanKind(), tt.wantName)
			}
			a := attrs(llm.Attributes())
			wantAttrs(t, a, tt.want...)
			act := attrs(only(t, spans, crstel.ScopeName).Attributes())
			if tt.resp.ID != "" {
				wantAttrs(t, act, crs.GenAIID(tt.resp.ID))
			} else {
				noAttrs(t, act, crs.GenAIIDKey)
			}
			if v, ok := a[genai.ResponseTimeToFirstChunkKey]; ok != tt.chunk || (ok && v.AsFloat64() < 0.001) {
				t.Errorf("time_to_first_chunk = %v (set: %t), want set: %t, >= 1ms", v.AsFloat64(), ok, tt.chunk)
			}
			if tt.errType == "" {
				noAttrs(t, a, genai.ErrorTypeKey)
				return
			}
			wantAttrs(t, a, genai.ErrorTypeKey.String(tt.errType))
			if llm.Status().Code != codes.Error || llm.Status().Description != tt.err.Error() {
				t.Errorf("status %v, want error %q", llm.Status(), tt.err)
			}
		})
	}
}

type statusErr int

func (e statusErr) Error() string     { return "HTTP " + strconv.Itoa(int(e)) }
func (e statusErr) ErrorType() string { return strconv.Itoa(int(e)) }

// TestStartOutsideAction: a call outside any action is still traced; one
// with a nil context too.
func TestStartOutsideAction(t *testing.T) {
	// Serial: outside a recorder's context, and with a nil one, a call
	// takes the global provider (otel.SetTracerProvider).
	rec := crsteltest.NewRecorder(t, crsteltest.WithGlobal())
	_, call := genai.Start(context.Background(), genai.Request{Model: "m"})
	call.End(genai.Response{ID: "r1"}, nil)
	var nilCtx context.Context
	_, call = genai.Start(nilCtx, genai.Request{Model: "m"})
	call.End(genai.Response{}, nil)
	spans := scopeSpans(rec.Ended(), genai.ScopeName)
	if len(spans) != 2 {
		t.Fatalf("%d spans, want 2", len(spans))
	}
	wantAttrs(t, attrs(spans[0].Attributes()), genai.ResponseIDKey.String("r1"), crs.GenAIID("r1"))
}

// TestStartCapture: content given to Start and End is recorded only with
// capture on.
func TestStartCapture(t *testing.T) {
	req := genai.Request{Model: "m",
		SystemInstructions: []genai.Part{{Type: "text", Content: "Be brief."}},
		InputMessages:      []genai.Message{{Role: "user", Parts: []genai.Part{{Type: "text", Content: "Hi"}}}}}
	resp := genai.Response{OutputMessages: []genai.Message{{Role: "assistant", Parts: []genai.Part{{Type: "text", Content: "Hello"}}, FinishReason: "stop"}}}
	for _, tt := range []struct {
		name string
		opts []genai.Option
		want bool
	}{{"default", nil, false}, {"CaptureSpan", []genai.Option{genai.WithCapture(genai.CaptureSpan)}, true}} {
		t.Run(tt.name, func(t *testing.T) {
			// Serial: the environment (t.Setenv) is the process's.
			t.Setenv(genai.EnvCapture, "")
			rec, ctx, action := inAction(t, crsteltest.WithGlobal())
			_, call := genai.Start(ctx, req, tt.opts...)
			call.End(resp, nil)
			action.End()
			a := attrs(only(t, rec.Ended(), genai.ScopeName).Attributes())
			if !tt.want {
				noAttrs(t, a, genai.InputMessagesKey, genai.OutputMessagesKey, genai.SystemInstructionsKey)
				return
			}
			wantAttrs(t, a,
				genai.SystemInstructionsKey.String(`[{"type":"text","content":"Be brief."}]`),
				genai.InputMessagesKey.String(`[{"role":"user","parts":[{"type":"text","content":"Hi"}]}]`),
				genai.OutputMessagesKey.String(`[{"role":"assistant","parts":[{"type":"text","content":"Hello"}],"finish_reason":"stop"}]`))
		})
	}
}

func TestParseCapture(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want genai.Capture
		ok   bool
	}{
		{"", genai.CaptureNone, true}, {"false", genai.CaptureNone, true}, {"true", genai.CaptureSpan, true},
		{"TRUE", genai.CaptureSpan, true}, {"SPAN_ONLY", genai.CaptureSpan, true}, {"event_only", genai.CaptureEvent, true},
		{"SPAN_AND_EVENT", genai.CaptureSpanAndEvent, true}, {"NO_CONTENT", genai.CaptureNone, true}, {"yes please", genai.CaptureNone, false},
	} {
		if got, ok := genai.ParseCapture(tt.in); got != tt.want || ok != tt.ok {
			t.Errorf("ParseCapture(%q) = %v, %t; want %v, %t", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestErrorType(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want string
	}{
		{statusErr(500), "500"},
		{fmt.Errorf("wrapped: %w", statusErr(404)), "404"},
		{context.Canceled, "canceled"},
		{context.DeadlineExceeded, "timeout"},
		{errors.New("x"), "*errors.errorString"},
	} {
		if got := genai.ErrorType(tt.err); got != tt.want {
			t.Errorf("ErrorType(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
	if !strings.HasPrefix(genai.ScopeName, "github.com/crstel/crstel") {
		t.Errorf("ScopeName %q", genai.ScopeName)
	}
}
