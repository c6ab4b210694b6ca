// Command llm is the specification's Python example in Go: a
// patch-generation action asks an LLM for a completion through an
// OpenAI-compatible endpoint, and ties the action to the response with
// crs.action.gen_ai.id.
//
// The LLM call is traced by genai.NewTransport, given to the official
// openai-go client: a span "chat gpt-4o-mini" with the GenAI conventions'
// attributes (model, parameters, response id, finish reason, token usage),
// under the action, carrying its category, name and task metadata.
//
// With OPENAI_API_KEY set, it calls the real endpoint (OPENAI_BASE_URL, or
// OpenAI's). Without, it starts a local stand-in server that answers like
// the OpenAI API, so that it runs anywhere:
//
//	go run ./examples/llm
//
// Prompts and completions are recorded only if asked:
//
//	OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true go run ./examples/llm
//
// Each call's span carries its cost (gen_ai.usage.cost.amount, priced with
// crstel's price table, or yours with CRSTEL_LLM_PRICES), and the action
// adds up the calls inside it (crstel.cost.*, crstel.CostOf). A second
// action, refine_patch, asks again and again until its LLM budget is
// spent: the watchdog reports it over budget, and the report callback
// cancels the loop.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"sync/atomic"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"go.opentelemetry.io/otel/codes"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/genai"
)

func main() {
	if err := run(context.Background()); err != nil {
		log.Fatal(err)
	}
}

// getCurrentTask returns the task the CRS works on, as the CRS API gave it.
func getCurrentTask() crs.Metadata {
	return crs.Metadata{"round.id": "round-1", "task.id": "task-1", "team.id": "team-1"}
}

func run(ctx context.Context) (err error) {
	tel, err := crstel.Setup(ctx, crstel.WithServiceName("mycrsllmservice"),
		crstel.WithOnReport(func(r crstel.Report) {
			if r.State == crstel.OverBudget && r.Name == "refine_patch" {
				fmt.Printf("watchdog: %s %s: %s\n", r.Name, r.State, r.Reason)
				if stop := stopRefining.Load(); stop != nil {
					(*stop)()
				}
			}
		}))
	if err != nil {
		return err
	}
	defer func() {
		if serr := tel.Shutdown(context.WithoutCancel(ctx)); serr != nil && err == nil {
			err = serr
		}
	}()

	opts := []option.RequestOption{
		option.WithHTTPClient(&http.Client{Transport: genai.NewTransport(http.DefaultTransport)}),
	}
	if os.Getenv("OPENAI_API_KEY") == "" {
		url, stop, err := standIn()
		if err != nil {
			return err
		}
		defer stop()
		fmt.Fprintln(os.Stderr, "llm: no OPENAI_API_KEY; using a local stand-in server at", url)
		opts = append(opts, option.WithBaseURL(url), option.WithAPIKey("sk-stand-in"))
	}
	client := openai.NewClient(opts...) // also reads OPENAI_API_KEY and OPENAI_BASE_URL

	ctx = crstel.WithTask(ctx, getCurrentTask())
	ctx, span := crstel.Action(ctx, crs.PatchGeneration, "generating_patch_from_llm", nil)
	defer span.End()

	resp, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model:               "gpt-4o-mini",
		Messages:            []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Write a short poem about OpenTelemetry")},
		Temperature:         openai.Float(1),
		MaxCompletionTokens: openai.Int(2048),
		TopP:                openai.Float(1),
		FrequencyPenalty:    openai.Float(0),
		PresencePenalty:     openai.Float(0),
	})
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
		return err
	}
	// The transport has set crs.action.gen_ai.id on the action's span to
	// resp.ID already; the Python example sets it by hand like this:
	span.SetAttributes(crs.GenAIID(resp.ID))
	fmt.Println(resp.Choices[0].Message.Content)
	cost, _ := crstel.CostOf(ctx)
	fmt.Printf("the call: %d input and %d output tokens, %.6f %s\n",
		cost.InputTokens, cost.OutputTokens, cost.LLMAmount, cost.LLMCurrency)

	return refine(ctx, client)
}

// stopRefining cancels the refine_patch loop; the report callback calls it.
var stopRefining atomic.Pointer[context.CancelFunc]

// refine asks for a better patch until its budget of LLM spend is gone:
// the watchdog reports the action over budget on the call that crosses
// it, and the report callback cancels ctx.
func refine(ctx context.Context, client openai.Client) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopRefining.Store(&cancel)
	ctx, span := crstel.Action(ctx, crs.PatchGeneration, "refine_patch", nil,
		crstel.WithCostBudget(crstel.CostBudget{LLM: 0.00002}))
	defer span.End()
	for i := 0; ctx.Err() == nil && i < 100; i++ {
		_, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model:    "gpt-4o-mini",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Make the patch smaller")},
		})
		if err != nil && ctx.Err() == nil {
			span.SetStatus(codes.Error, err.Error())
			return err
		}
	}
	cost, task := crstel.CostOf(ctx)
	fmt.Printf("refine_patch: %d calls, %.6f %s; the task so far: %.6f %s\n",
		cost.LLMCalls, cost.LLMAmount, cost.LLMCurrency, task.LLMAmount, task.LLMCurrency)
	return nil
}

// standIn starts a server on 127.0.0.1 that answers chat completions as the
// OpenAI API does, and returns its base URL and a function that stops it.
func standIn() (string, func(), error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Model string `json:"model"`
		}
		json.NewDecoder(r.Body).Decode(&req)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"id": "chatcmpl-standin-1", "object": "chat.completion", "created": 1_700_000_000, "model": req.Model + "-2024-07-18",
			"choices": []map[string]any{{
				"index": 0, "finish_reason": "stop",
				"message": map[string]any{"role": "assistant", "content": "Spans in a trace,\nmetrics keep their steady pace,\nlogs tell what took place."},
			}},
			"usage": map[string]any{"prompt_tokens": 14, "completion_tokens": 19, "total_tokens": 33},
		})
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(lis)
	return "http://" + lis.Addr().String() + "/v1", func() { srv.Close() }, nil
}
