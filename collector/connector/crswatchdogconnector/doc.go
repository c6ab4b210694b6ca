//go:generate go tool mdatagen metadata.yaml

// Package crswatchdogconnector is the crs_watchdog connector of the
// OpenTelemetry Collector: it finds the CRS actions whose process died,
// and those that run past their budget, from the span lifecycle records
// processes send while their spans are open.
//
// The records are those of OpenTelemetry Python contrib's partial-span
// processor, which crstel's Go library sends too: log records with
// span.state heartbeat or ended and log.body.type json/v1, whose body
// holds the span as OTLP JSON TracesData. Ids written without leading
// zeros, as the Python processor writes them, are left-padded.
//
// The connector tracks, per process (its resource's service.instance.id,
// else host.name and process.pid), the open actions it heard of and the
// latest snapshot of each. When a process sends no heartbeat for
// lost_after, every open action of it is emitted as its span, rebuilt
// from the snapshot with the same trace, span and parent ids, an error
// status and crstel.watchdog.state lost, followed by a short report span.
// An action whose heartbeats go on past its budget gets one overdue report
// span, a child of it. An action is forgotten when its ended record
// arrives, or its real span when the connector is also used as a traces
// → traces connector, which passes spans through unchanged.
//
// With a storage extension (file_storage) the tracked actions and those
// already reported survive a restart. See the README for the
// configuration and the pipelines.
package crswatchdogconnector
