// Command log_action is the specification's "alternative implementation"
// in Go: one helper, logAction, records a finished CRS action with its
// category, name, the task metadata and extra attributes, for code that
// reports what it did after the fact rather than wrapping the work.
//
//	go run ./examples/log_action
//
// Unlike the Python original, the category is a typed constant and the
// extra attributes are built with the crs constructors, so a misspelled
// key or an int sent as a string cannot happen; an invalid name is
// reported, not silently exported.
package main

import (
	"context"
	"fmt"
	"log"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
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

// logAction records a CRS action that has just been done.
func logAction(ctx context.Context, category crs.Category, name string, task crs.Metadata, extra ...attribute.KeyValue) {
	_, span := crstel.Action(ctx, category, name, task, crstel.WithAttributes(extra...))
	span.SetStatus(codes.Ok, "")
	span.End()
	fmt.Printf("Logged crs action: %s - %s\n", category, name)
}

func run(ctx context.Context) (err error) {
	tel, err := crstel.Setup(ctx, crstel.WithServiceName("mycrsllmservice"))
	if err != nil {
		return err
	}
	defer func() {
		if serr := tel.Shutdown(context.WithoutCancel(ctx)); serr != nil && err == nil {
			err = serr
		}
	}()

	task := getCurrentTask()
	// The id of an LLM response the analysis used; examples/llm shows how
	// genai.NewTransport gets it, and sets crs.action.gen_ai.id by itself.
	responseID := "chatcmpl-AXwZ6hkq5xTflDs5NJiJC4qz3Vf2v"
	logAction(ctx, crs.StaticAnalysis, "check_security_flaws", task, crs.GenAIID(responseID))
	logAction(ctx, crs.StaticAnalysis, "analyze_vulnerabilities", task, crs.CodeFile("file1.c"), crs.CodeLines(10, 50))
	return nil
}
