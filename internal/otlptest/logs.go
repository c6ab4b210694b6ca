package otlptest

import (
	"context"
	"encoding/hex"
	"maps"
	"time"

	collectorlogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
)

// logStore is the part of a Server that keeps log records; guarded by
// Server.mu.
type logStore struct {
	requests int
	received []*logspb.ResourceLogs
}

// logsService is the OTLP LogsService of a Server. The server's options
// apply to it as to traces: credentials, delay, configured failure.
type logsService struct {
	collectorlogspb.UnimplementedLogsServiceServer
	s *Server
}

// Export implements the OTLP LogsService. It is called by gRPC.
func (l logsService) Export(ctx context.Context, req *collectorlogspb.ExportLogsServiceRequest) (*collectorlogspb.ExportLogsServiceResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	s := l.s
	s.mu.Lock()
	s.logs.requests++
	s.mu.Unlock()
	if err := s.admit(ctx, md); err != nil {
		return nil, err
	}
	rl := make([]*logspb.ResourceLogs, 0, len(req.GetResourceLogs()))
	for _, r := range req.GetResourceLogs() {
		rl = append(rl, proto.CloneOf(r))
	}
	s.mu.Lock()
	s.logs.received = append(s.logs.received, rl...)
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	return &collectorlogspb.ExportLogsServiceResponse{}, nil
}

// LogRequests returns the number of log export calls made so far,
// accepted or not.
func (s *Server) LogRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logs.requests
}

// LogRecord is a log record the server accepted, flattened for tests.
type LogRecord struct {
	// Time is when the event happened; ObservedTime when it was seen.
	Time, ObservedTime time.Time
	// SeverityNumber is the OTLP severity: 9 INFO, 13 WARN, 17 ERROR, ...
	SeverityNumber int
	// SeverityText is the level as the source named it, such as "INFO".
	SeverityText string
	// Body is the record's body, typed like Span.Attributes: a string for
	// a slog message.
	Body any
	// Attributes are the record's attributes, typed like Span.Attributes.
	Attributes map[string]any
	// TraceID and SpanID are lower-case hex, "" if the record has none.
	TraceID, SpanID string
	// EventName is the record's event name, if any.
	EventName string
	// Resource holds the attributes of the record's resource.
	Resource map[string]any
	// Scope and ScopeVersion are the name and version of the record's
	// instrumentation scope (the logger's name).
	Scope, ScopeVersion string
}

// Logs returns the log records accepted so far, in the order they arrived,
// each with its resource and scope.
func (s *Server) Logs() []LogRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []LogRecord
	for _, rl := range s.logs.received {
		res := attrs(rl.GetResource().GetAttributes())
		for _, sl := range rl.GetScopeLogs() {
			for _, lr := range sl.GetLogRecords() {
				out = append(out, LogRecord{
					Time:           unixNano(lr.GetTimeUnixNano()),
					ObservedTime:   unixNano(lr.GetObservedTimeUnixNano()),
					SeverityNumber: int(lr.GetSeverityNumber()),
					SeverityText:   lr.GetSeverityText(),
					Body:           anyValue(lr.GetBody()),
					Attributes:     attrs(lr.GetAttributes()),
					TraceID:        hexID(lr.GetTraceId()),
					SpanID:         hexID(lr.GetSpanId()),
					EventName:      lr.GetEventName(),
					Resource:       maps.Clone(res),
					Scope:          sl.GetScope().GetName(),
					ScopeVersion:   sl.GetScope().GetVersion(),
				})
			}
		}
	}
	return out
}

// hexID returns id in lower-case hex, or "" if it is empty or all zero.
func hexID(id []byte) string {
	for _, b := range id {
		if b != 0 {
			return hex.EncodeToString(id)
		}
	}
	return ""
}

// WaitForLogs waits until the server has accepted at least n log records
// or timeout has passed, and returns the records accepted then: fewer than
// n on timeout, more if more arrived.
func (s *Server) WaitForLogs(n int, timeout time.Duration) []LogRecord {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		s.mu.Lock()
		count := 0
		for _, rl := range s.logs.received {
			for _, sl := range rl.GetScopeLogs() {
				count += len(sl.GetLogRecords())
			}
		}
		changed := s.changed
		s.mu.Unlock()
		if count >= n {
			return s.Logs()
		}
		select {
		case <-changed:
		case <-t.C:
			return s.Logs()
		}
	}
}
