// Command action is a CRS component in Go for crstelcol's end-to-end
// tests: it starts one action with crstel, prints its ids, and runs until
// it is killed, sending span lifecycle records every -interval.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
)

func main() {
	category := flag.String("category", "building", "the action's category")
	name := flag.String("name", "build_harness", "the action's name")
	budget := flag.Duration("budget", time.Minute, "the action's budget")
	interval := flag.Duration("interval", time.Second, "the lifecycle records' interval")
	flag.Parse()
	ctx := context.Background()
	if _, err := crstel.Setup(ctx, crstel.WithServiceName("go-builder"), crstel.WithLifecycleInterval(*interval)); err != nil {
		log.Fatal(err)
	}
	ctx = crstel.WithTask(ctx, crs.Metadata{"round.id": "round-1", "task.id": "task-7", "team.id": "team-1"})
	cat, err := crs.ParseCategory(*category)
	if err != nil {
		log.Fatal(err)
	}
	_, span := crstel.Action(ctx, cat, *name, nil, crstel.WithOverdueAfter(*budget))
	sc := span.SpanContext()
	fmt.Fprintf(os.Stdout, "running %s %s\n", sc.TraceID(), sc.SpanID())
	select {} // until killed
}
