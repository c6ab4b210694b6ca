package genai_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/anthropics/anthropic-sdk-go"
	anthropicoption "github.com/anthropics/anthropic-sdk-go/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"go.opentelemetry.io/otel/codes"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/crsteltest"
	"github.com/crstel/crstel/genai"
)

// fakeAPI answers as OpenAI and Anthropic do: chat completions,
// embeddings and messages, plain or streamed as the request asks. The
// first failFirst requests get a 429 that asks to retry at once.
func fakeAPI(t *testing.T, failFirst int32) *httptest.Server {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get("Authorization") != "Bearer "+apiKey && r.Header.Get("X-Api-Key") != apiKey {
			t.Errorf("%s: the API key did not reach the server: %v", r.URL.Path, r.Header)
		}
		if n.Add(1) <= failFirst {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Retry-After-Ms", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			io.WriteString(w, `{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}`)
			return
		}
		stream := bytes.Contains(body, []byte(`"stream":true`))
		var c canned
		switch {
		case r.URL.Path == "/v1/chat/completions" && stream:
			c = streamResponse(openAIStream)
		case r.URL.Path == "/v1/chat/completions":
			c = jsonResponse(openAIResponse)
		case r.URL.Path == "/v1/embeddings":
			c = jsonResponse(embeddingsResponse)
		case r.URL.Path == "/v1/messages" && stream:
			c = streamResponse(anthropicStream)
		case r.URL.Path == "/v1/messages":
			c = jsonResponse(anthropicResponse)
		default:
			http.NotFound(w, r)
			return
		}
		for k, v := range c.header {
			w.Header().Set(k, v)
		}
		for _, ch := range c.chunks {
			io.WriteString(w, ch)
			w.(http.Flusher).Flush()
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func openAIClient(t *testing.T, srv *httptest.Server, opts ...genai.TransportOption) openai.Client {
	return openai.NewClient(
		option.WithBaseURL(srv.URL+"/v1"),
		option.WithHTTPClient(newClient(t, opts...)),
		option.WithAPIKey(apiKey),
	)
}

func anthropicClient(t *testing.T, srv *httptest.Server, opts ...genai.TransportOption) anthropic.Client {
	return anthropic.NewClient(
		anthropicoption.WithBaseURL(srv.URL),
		anthropicoption.WithHTTPClient(newClient(t, opts...)),
		anthropicoption.WithAPIKey(apiKey),
	)
}

// TestOpenAIClient drives the official openai-go client through the
// transport.
func TestOpenAIClient(t *testing.T) {
	t.Parallel()
	params := openai.ChatCompletionNewParams{
		Model:               "gpt-4o-mini",
		Messages:            []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("You are terse."), openai.UserMessage("Write a short poem about OpenTelemetry")},
		Temperature:         openai.Float(0.7),
		MaxCompletionTokens: openai.Int(2048),
	}
	t.Run("plain", func(t *testing.T) {
		t.Parallel()
		rec, ctx, action := inAction(t)
		client := openAIClient(t, fakeAPI(t, 0))
		resp, err := client.Chat.Completions.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		action.End()
		if want := "Spans in a trace,\nmetrics keep their steady pace."; resp.Choices[0].Message.Content != want {
			t.Errorf("the client got %q, want %q", resp.Choices[0].Message.Content, want)
		}
		a := endedWith(t, rec, "")
		wantAttrs(t, a, genai.RequestModelKey.String("gpt-4o-mini"), genai.RequestTemperatureKey.Float64(0.7),
			genai.RequestMaxTokensKey.Int64(2048), genai.ResponseIDKey.String(resp.ID),
			genai.UsageInputTokensKey.Int64(resp.Usage.PromptTokens), genai.UsageOutputTokensKey.Int64(resp.Usage.CompletionTokens))
		if n := only(t, rec.Ended(), genai.ScopeName).Name(); n != "chat gpt-4o-mini" {
			t.Errorf("span name %q, want chat gpt-4o-mini", n)
		}
	})
	t.Run("streamed", func(t *testing.T) {
		t.Parallel()
		rec, ctx, action := inAction(t)
		client := openAIClient(t, fakeAPI(t, 0), genai.WithCapture(genai.CaptureSpan))
		p := params
		p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
		stream := client.Chat.Completions.NewStreaming(ctx, p)
		var acc openai.ChatCompletionAccumulator
		for stream.Next() {
			acc.AddChunk(stream.Current())
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		stream.Close()
		action.End()
		if got := acc.Choices[0].Message.Content; got != "Spans in a trace." {
			t.Errorf("the client got %q, want %q", got, "Spans in a trace.")
		}
		a := endedWith(t, rec, "")
		wantAttrs(t, a, genai.RequestStreamKey.Bool(true), genai.ResponseIDKey.String(acc.ID),
			genai.UsageInputTokensKey.Int64(acc.Usage.PromptTokens), genai.UsageOutputTokensKey.Int64(acc.Usage.CompletionTokens),
			genai.ResponseFinishReasonsKey.StringSlice([]string{"stop"}),
			genai.OutputMessagesKey.String(`[{"role":"assistant","parts":[{"type":"text","content":"Spans in a trace."}],"finish_reason":"stop"}]`))
		if _, ok := a[genai.ResponseTimeToFirstChunkKey]; !ok {
			t.Error("no time_to_first_chunk")
		}
	})
	t.Run("embeddings", func(t *testing.T) {
		t.Parallel()
		rec, ctx, action := inAction(t)
		client := openAIClient(t, fakeAPI(t, 0))
		resp, err := client.Embeddings.New(ctx, openai.EmbeddingNewParams{
			Model: openai.EmbeddingModelTextEmbedding3Small,
			Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("The food was delicious")},
		})
		if err != nil {
			t.Fatal(err)
		}
		action.End()
		if len(resp.Data) != 1 || len(resp.Data[0].Embedding) != 3 {
			t.Errorf("the client got %+v", resp.Data)
		}
		wantAttrs(t, endedWith(t, rec, ""), genai.OperationNameKey.String("embeddings"), genai.UsageInputTokensKey.Int64(8))
	})
	t.Run("retried after a 429", func(t *testing.T) {
		t.Parallel()
		rec, ctx, action := inAction(t)
		client := openAIClient(t, fakeAPI(t, 1))
		resp, err := client.Chat.Completions.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		action.End()
		spans := rec.Ended()
		crsteltest.AssertConforms(t, spans, crsteltest.WantMetadata(task))
		noSecrets(t, spans)
		llm := scopeSpans(spans, genai.ScopeName)
		if len(llm) != 2 {
			t.Fatalf("%d LLM spans, want 2 (one per attempt)", len(llm))
		}
		wantAttrs(t, attrs(llm[0].Attributes()), genai.ErrorTypeKey.String("429"))
		wantAttrs(t, attrs(llm[1].Attributes()), genai.ResponseIDKey.String(resp.ID))
		if llm[1].Status().Code == codes.Error {
			t.Errorf("the retry's status is %v", llm[1].Status())
		}
		// The action's gen_ai.id is the response's, that of the retry.
		wantAttrs(t, attrs(only(t, spans, crstel.ScopeName).Attributes()), crs.GenAIID(resp.ID))
	})
}

// TestAnthropicClient drives the official anthropic-sdk-go client through
// the transport.
func TestAnthropicClient(t *testing.T) {
	t.Parallel()
	params := anthropic.MessageNewParams{
		Model:     anthropic.Model("claude-sonnet-4-5"),
		MaxTokens: 1024,
		System:    []anthropic.TextBlockParam{{Text: "You are terse."}},
		Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Hello, Claude"))},
	}
	t.Run("plain", func(t *testing.T) {
		t.Parallel()
		rec, ctx, action := inAction(t)
		client := anthropicClient(t, fakeAPI(t, 0), genai.WithCapture(genai.CaptureSpan))
		msg, err := client.Messages.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		action.End()
		if got := msg.Content[0].Text; got != "Hi! My name is Claude." {
			t.Errorf("the client got %q", got)
		}
		a := endedWith(t, rec, "")
		wantAttrs(t, a, genai.ProviderNameKey.String("anthropic"), genai.RequestModelKey.String("claude-sonnet-4-5"),
			genai.RequestMaxTokensKey.Int64(1024), genai.ResponseIDKey.String(msg.ID),
			genai.UsageOutputTokensKey.Int64(msg.Usage.OutputTokens),
			genai.UsageInputTokensKey.Int64(msg.Usage.InputTokens+msg.Usage.CacheReadInputTokens+msg.Usage.CacheCreationInputTokens),
			genai.SystemInstructionsKey.String(`[{"type":"text","content":"You are terse."}]`),
			genai.InputMessagesKey.String(`[{"role":"user","parts":[{"type":"text","content":"Hello, Claude"}]}]`))
		if n := only(t, rec.Ended(), genai.ScopeName).Name(); n != "chat claude-sonnet-4-5" {
			t.Errorf("span name %q", n)
		}
	})
	t.Run("streamed", func(t *testing.T) {
		t.Parallel()
		rec, ctx, action := inAction(t)
		client := anthropicClient(t, fakeAPI(t, 0))
		stream := client.Messages.NewStreaming(ctx, params)
		var msg anthropic.Message
		for stream.Next() {
			if err := msg.Accumulate(stream.Current()); err != nil {
				t.Fatal(err)
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		stream.Close()
		action.End()
		if len(msg.Content) != 1 || msg.Content[0].Text != "Hello!" {
			t.Errorf("the client got %+v", msg.Content)
		}
		a := endedWith(t, rec, "")
		wantAttrs(t, a, genai.RequestStreamKey.Bool(true), genai.ResponseIDKey.String(msg.ID),
			genai.UsageOutputTokensKey.Int64(msg.Usage.OutputTokens), genai.ResponseFinishReasonsKey.StringSlice([]string{string(msg.StopReason)}))
		if !strings.HasPrefix(msg.ID, "msg_") {
			t.Errorf("message id %q", msg.ID)
		}
	})
}
