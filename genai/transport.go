package genai

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
)

// Error types NewTransport records as error.type, besides an HTTP status
// code ("429", "500"), "timeout" (see ErrorType) and an in-band error's
// own type (such as Anthropic's "overloaded_error").
const (
	// ErrorTypeMalformedResponse: a 2xx response whose body is not the
	// JSON the API sends.
	ErrorTypeMalformedResponse = "malformed_response"
	// ErrorTypeIncompleteResponse: a JSON response cut short by the
	// server or the network.
	ErrorTypeIncompleteResponse = "incomplete_response"
	// ErrorTypeIncompleteStream: a streamed response that ended without
	// its terminator (OpenAI's "data: [DONE]", Anthropic's message_stop).
	ErrorTypeIncompleteStream = "incomplete_stream"
	// ErrorTypeCanceled: the call's context was canceled, or the caller
	// closed the response body before its end.
	ErrorTypeCanceled = "canceled"
	// ErrorTypeBodyNotClosed: the caller dropped the response without
	// reading its body to the end or closing it; the call's span ends
	// when the garbage collector finds the body.
	ErrorTypeBodyNotClosed = "body_not_closed"
)

// maxEventBytes bounds each event of a streamed response that the
// transport parses (and WithMaxBodyBytes, if smaller).
const maxEventBytes = 1 << 20

// maxErrorBodyBytes bounds how much of an error response's body is kept to
// find its message.
const maxErrorBodyBytes = 64 << 10

// NewTransport returns an http.RoundTripper that traces the LLM calls made
// through base (http.DefaultTransport if nil) as Start and Call.End do:
// one span per call, inside the CRS action of the request's context, with
// the GenAI metrics. Give it to any Go HTTP client, such as openai-go or
// anthropic-sdk-go through option.WithHTTPClient:
//
//	client := &http.Client{Transport: genai.NewTransport(nil)}
//
// It recognises POST requests to the OpenAI-compatible APIs, by the end of
// the URL's path: ".../chat/completions" (gen_ai.operation.name "chat"),
// ".../completions" ("text_completion") and ".../embeddings"
// ("embeddings"); and Anthropic's ".../v1/messages" ("chat"), plain or
// streamed (text/event-stream). Every other request goes to base as it
// is, with no span (only trace headers are removed from those to the
// providers' hosts, as below).
//
// gen_ai.provider.name is WithProviderName's name if given; else the host's
// provider: api.openai.com is "openai", api.anthropic.com "anthropic",
// *.openai.azure.com "azure.ai.openai", api.groq.com "groq",
// api.deepseek.com "deepseek", api.mistral.ai "mistral_ai", api.x.ai
// "x_ai", api.perplexity.ai "perplexity", api.cohere.com and api.cohere.ai
// "cohere", generativelanguage.googleapis.com "gcp.gemini"; else that of
// the wire format: "anthropic" for the messages API, "openai" for the
// others (a local model server or a proxy such as LiteLLM speaking
// OpenAI's format).
//
// The caller's request is never modified, and the caller gets the
// response's status, headers and body bytes exactly as base returned them.
// The transport reads the request's body to find the model and the
// parameters, keeping at most WithMaxBodyBytes bytes (DefaultMaxBodyBytes):
// a longer body is sent whole, but not parsed. The response is parsed as
// the caller reads it: a JSON body is kept up to the same bound and parsed
// at its end; a stream is parsed event by event, keeping no more than one
// event (bounded by 1 MiB). A body the caller asked to be compressed is
// decompressed to be parsed if it is gzip, else not parsed. The span ends
// when the caller has read the body to its end (or the stream to its
// terminator), or closes it: as always with net/http, close the body (a
// body dropped unclosed ends its span, as "body_not_closed", when the
// garbage collector finds it).
//
// A call that fails has error.type set to the HTTP status code ("429") for
// a status of 400 or more, with the message of the API's error body
// (credentials scrubbed) as the span's status; "malformed_response",
// "incomplete_response" or "incomplete_stream" for a body that is not what
// the API sends; "canceled" if the context was canceled or the body closed
// before its end; "timeout" for an expired deadline; else the in-band
// error's type (such as Anthropic's "overloaded_error") or the Go error's
// type (see ErrorType).
//
// Headers, API keys and query strings are never recorded; neither is
// message content unless capture is on (WithCapture,
// OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT, read when
// NewTransport is called). The transport does not propagate the trace
// context: by default it removes the traceparent, tracestate and baggage
// headers (which an outer otelhttp may have set) from requests to the
// providers' hosts listed above, so that the task metadata crstel puts in
// baggage does not leave the CRS. With WithPropagation it instead injects
// the LLM call's trace context and baggage with the global propagator,
// for a proxy of one's own that continues the trace.
//
// It takes every [Option] of Start, and the options only the transport
// uses: [WithProviderName], [WithPropagation] and [WithMaxBodyBytes].
func NewTransport(base http.RoundTripper, opts ...TransportOption) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	// Resolved once, the capture mode included, so that each call does
	// what the transport was made to do.
	return &transport{base: base, cfg: newTransportConfig(opts)}
}

type transport struct {
	base http.RoundTripper
	cfg  config
}

// CloseIdleConnections closes the idle connections of the base transport,
// if it can; http.Client.CloseIdleConnections calls it.
func (t *transport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// wireFormat is the API a request speaks.
type wireFormat uint8

const (
	formatNone wireFormat = iota
	formatOpenAI
	formatAnthropic
)

// classify returns the wire format and operation of req, or formatNone if
// the transport does not trace it.
func classify(req *http.Request) (wireFormat, string) {
	if req.Method != http.MethodPost || req.URL == nil {
		return formatNone, ""
	}
	p := strings.TrimSuffix(req.URL.Path, "/")
	switch {
	case strings.HasSuffix(p, "/chat/completions"):
		return formatOpenAI, OperationChat
	case strings.HasSuffix(p, "/completions"):
		return formatOpenAI, OperationTextCompletion
	case strings.HasSuffix(p, "/embeddings"):
		return formatOpenAI, OperationEmbeddings
	case strings.HasSuffix(p, "/v1/messages"):
		return formatAnthropic, OperationChat
	}
	return formatNone, ""
}

// hostProvider returns the provider whose API host is host, or "".
func hostProvider(host string) string {
	switch host {
	case "api.openai.com":
		return ProviderOpenAI
	case "api.anthropic.com":
		return ProviderAnthropic
	case "api.groq.com":
		return ProviderGroq
	case "api.deepseek.com":
		return ProviderDeepSeek
	case "api.mistral.ai":
		return ProviderMistralAI
	case "api.x.ai":
		return ProviderXAI
	case "api.perplexity.ai":
		return ProviderPerplexity
	case "api.cohere.com", "api.cohere.ai":
		return ProviderCohere
	case "generativelanguage.googleapis.com":
		return ProviderGCPGemini
	}
	if strings.HasSuffix(host, ".openai.azure.com") {
		return ProviderAzureAIOpenAI
	}
	return ""
}

// hostOf returns the host name of u, lower case, without a trailing dot.
func hostOf(u *url.URL) string {
	if u == nil {
		return ""
	}
	h := strings.TrimSuffix(u.Hostname(), ".")
	for i := 0; i < len(h); i++ {
		if c := h[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(h)
		}
	}
	return h
}

// portOf returns the port of u, or the scheme's default.
func portOf(u *url.URL) int {
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 || n > 65535 {
			return 0
		}
		return n
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return 443
	case "http":
		return 80
	}
	return 0
}

// RoundTrip traces req if it is an LLM call it recognises; see
// NewTransport.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	format, op := classify(req)
	if format == formatNone {
		if !t.cfg.propagate && req.URL != nil && hasTraceHeaders(req.Header) && hostProvider(hostOf(req.URL)) != "" {
			r2 := *req
			r2.Header = withoutTraceHeaders(req.Header)
			return t.base.RoundTrip(&r2)
		}
		return t.base.RoundTrip(req)
	}

	host := hostOf(req.URL)
	known := hostProvider(host)
	gr := Request{Operation: op, Provider: t.cfg.provider, ServerAddress: host, ServerPort: portOf(req.URL)}
	if gr.Provider == "" {
		gr.Provider = known
	}
	if gr.Provider == "" {
		gr.Provider = ProviderOpenAI
		if format == formatAnthropic {
			gr.Provider = ProviderAnthropic
		}
	}

	body := req.Body
	if body != nil && body != http.NoBody {
		prefix, complete, rerr := readPrefix(body, req.ContentLength, t.cfg.maxBody)
		if complete {
			parseRequest(format, prefix, &gr, &t.cfg)
			rb := &replayBody{rc: body}
			rb.Reset(prefix)
			body = rb
		} else {
			body = &prefixBody{prefix: prefix, rest: body, err: rerr}
		}
	}
	if gr.Model == "" {
		gr.Model = azureDeployment(req.URL.Path)
	}

	ctx, call := start(req.Context(), gr, t.cfg)
	r2 := req.WithContext(ctx)
	r2.Body = body
	switch {
	case t.cfg.propagate:
		r2.Header = withoutTraceHeaders(req.Header)
		otel.GetTextMapPropagator().Inject(ctx, propagation.HeaderCarrier(r2.Header))
	case known != "" && hasTraceHeaders(req.Header):
		r2.Header = withoutTraceHeaders(req.Header)
	}

	resp, err := t.base.RoundTrip(r2)
	if err != nil {
		call.End(Response{}, scrubError(contextError(ctx, err), req))
		return resp, err
	}
	x := &exchange{
		call: call, cfg: &t.cfg, format: format, op: op, status: resp.StatusCode,
		length: resp.ContentLength, ctxErr: ctx.Err,
	}
	switch {
	case resp.StatusCode >= 400:
		x.mode = modeError
		x.secrets = secretsOf(req.Header)
	case resp.StatusCode < 200 || resp.StatusCode >= 300:
		x.mode = modeOther
	case isEventStream(resp.Header.Get("Content-Type")):
		x.mode = modeStream
		x.stream = newStreamState(format, call, &t.cfg)
	default:
		x.mode = modeJSON
	}
	if enc := resp.Header.Get("Content-Encoding"); enc != "" && !strings.EqualFold(enc, "identity") {
		// The caller asked for a compressed body itself (else net/http
		// decompresses it): gzip JSON is decompressed to parse, anything
		// else is passed on without being parsed.
		switch {
		case strings.EqualFold(enc, "gzip") && (x.mode == modeJSON || x.mode == modeError):
			x.gzip = true
		case x.mode == modeJSON || x.mode == modeStream:
			x.mode, x.stream = modeOther, nil
		}
	}
	if resp.Body == nil || resp.Body == http.NoBody {
		call.End(x.finish(io.EOF))
		return resp, nil
	}
	x.rc = resp.Body
	resp.Body = x
	// A body dropped without Close would leave the span open for ever.
	runtime.AddCleanup(x, func(c *Call) {
		c.End(Response{}, &callError{typ: ErrorTypeBodyNotClosed, msg: "response body dropped without being closed"})
	}, call)
	return resp, nil
}

// azureDeployment returns the deployment of an Azure OpenAI path
// (".../openai/deployments/{deployment}/chat/completions"), which is the
// model there, or "".
func azureDeployment(path string) string {
	const seg = "/deployments/"
	i := strings.Index(path, seg)
	if i < 0 {
		return ""
	}
	d, _, _ := strings.Cut(path[i+len(seg):], "/")
	return d
}

func isEventStream(contentType string) bool {
	ct, _, _ := strings.Cut(contentType, ";")
	return strings.EqualFold(strings.TrimSpace(ct), "text/event-stream")
}

// traceHeaders are the headers the propagators of the trace context and
// baggage set.
var traceHeaders = [...]string{"traceparent", "tracestate", "baggage"}

func isTraceHeader(k string) bool {
	for _, h := range traceHeaders {
		if strings.EqualFold(k, h) {
			return true
		}
	}
	return false
}

func hasTraceHeaders(h http.Header) bool {
	for k := range h {
		if isTraceHeader(k) {
			return true
		}
	}
	return false
}

// withoutTraceHeaders returns a copy of h without the trace headers.
func withoutTraceHeaders(h http.Header) http.Header {
	out := make(http.Header, len(h)+3)
	for k, v := range h {
		if !isTraceHeader(k) {
			out[k] = v
		}
	}
	return out
}

// secretsOf returns the credentials in h, to scrub from error messages.
func secretsOf(h http.Header) []string {
	var s []string
	for _, k := range [...]string{"Authorization", "X-Api-Key", "Api-Key", "X-Goog-Api-Key"} {
		for _, v := range h.Values(k) {
			if _, tok, ok := strings.Cut(v, " "); ok && k == "Authorization" {
				v = tok
			}
			if v = strings.TrimSpace(v); len(v) >= 6 {
				s = append(s, v)
			}
		}
	}
	return s
}

// readPrefix reads up to max bytes of body. complete says it read the
// whole body; if not, err is the read error that stopped it, or nil if the
// body is longer than max.
func readPrefix(body io.Reader, length int64, max int) (prefix []byte, complete bool, err error) {
	size := 512
	if length > 0 && length <= int64(max) {
		size = int(length) + 1 // +1 to see EOF without growing
	} else if length > int64(max) {
		size = max + 1
	}
	buf := make([]byte, 0, size)
	for {
		if len(buf) == cap(buf) {
			if len(buf) > max {
				return buf, false, nil
			}
			buf = append(buf, 0)[:len(buf)]
		}
		n, rerr := body.Read(buf[len(buf):min(cap(buf), max+1)])
		buf = buf[:len(buf)+n]
		if len(buf) > max {
			return buf, false, nil
		}
		switch {
		case rerr == io.EOF:
			return buf, true, nil
		case rerr != nil:
			return buf, false, rerr
		}
	}
}

// replayBody is a request body read whole: its bytes again, and the
// original's Close.
type replayBody struct {
	bytes.Reader
	rc io.ReadCloser
}

func (b *replayBody) Close() error { return b.rc.Close() }

// prefixBody is a request body read in part: the bytes read, then the
// rest of the original, or the error that stopped the reading.
type prefixBody struct {
	prefix []byte
	rest   io.ReadCloser
	err    error
}

func (b *prefixBody) Read(p []byte) (int, error) {
	if len(b.prefix) > 0 {
		n := copy(p, b.prefix)
		b.prefix = b.prefix[n:]
		return n, nil
	}
	if b.err != nil {
		return 0, b.err
	}
	return b.rest.Read(p)
}

func (b *prefixBody) Close() error { return b.rest.Close() }

// callError is an error with its error.type.
type callError struct {
	typ string
	msg string
	err error
}

func (e *callError) Error() string {
	if e.msg == "" && e.err != nil {
		return e.err.Error()
	}
	return e.msg
}

func (e *callError) ErrorType() string { return e.typ }
func (e *callError) Unwrap() error     { return e.err }

// contextError returns err, typed by ctx's error if ctx is done (the
// transport may report a canceled request in its own words).
func contextError(ctx context.Context, err error) error {
	return typeByContext(ctx.Err, err)
}

func typeByContext(ctxErr func() error, err error) error {
	if cerr := ctxErr(); cerr != nil && !errors.Is(err, cerr) {
		return &callError{typ: ErrorType(cerr), msg: err.Error(), err: err}
	}
	return err
}

// statusError is the error of a response with status code >= 400.
func statusError(code int, message string) error {
	msg := "HTTP " + strconv.Itoa(code)
	if text := http.StatusText(code); text != "" {
		msg += " " + text
	}
	if message != "" {
		msg += ": " + message
	}
	return &callError{typ: strconv.Itoa(code), msg: msg}
}

// keyPrefixes begin the API keys of the providers (OpenAI's and
// Anthropic's "sk-", Groq's "gsk_", xAI's "xai-", Perplexity's "pplx-",
// Google's "AIza").
var keyPrefixes = [...]string{"sk-", "gsk_", "xai-", "pplx-", "AIza"}

// scrub removes the secrets, and the words that look like an API key, from
// an error message, and bounds it.
func scrub(msg string, secrets []string) string {
	for _, s := range secrets {
		msg = strings.ReplaceAll(msg, s, "[REDACTED]")
	}
	f := strings.Fields(msg)
	changed := false
	for i, w := range f {
		w = strings.TrimLeft(w, `"'(:=`)
		for _, p := range keyPrefixes {
			if strings.HasPrefix(w, p) && len(w) > len(p)+8 {
				f[i], changed = "[REDACTED]", true
			}
		}
	}
	if changed {
		msg = strings.Join(f, " ")
	}
	return cutString(msg, 512)
}

// scrubError returns err, its message without req's query string and
// credentials (a base transport may quote the URL, and some APIs take
// their key in the query).
func scrubError(err error, req *http.Request) error {
	msg := err.Error()
	clean := msg
	if q := req.URL.RawQuery; q != "" {
		clean = strings.ReplaceAll(clean, q, "[REDACTED]")
	}
	if clean = scrub(clean, secretsOf(req.Header)); clean == msg {
		return err
	}
	return &callError{typ: ErrorType(err), msg: clean, err: err}
}

// mode is what the transport does with a response's body.
type mode uint8

const (
	modeJSON   mode = iota // a 2xx JSON body: parse at its end
	modeStream             // a 2xx event stream: parse event by event
	modeError              // status >= 400: find the error message
	modeOther              // 1xx, 3xx, or a body compressed but not with gzip: nothing to parse
)

// bufPool holds the buffers of JSON response bodies, parsed and released
// at their end.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 8<<10); return &b }}

const maxPooledBuf = 256 << 10

// exchange is the body of a traced response: it passes the body's bytes
// to the caller as they are and parses them on the way, and ends the call
// at the body's end or Close.
type exchange struct {
	rc     io.ReadCloser
	call   *Call
	cfg    *config
	format wireFormat
	op     string
	mode   mode
	status int
	length int64 // the response's ContentLength; -1 if unknown
	// ctxErr is the Err method of the call's context: a read error while
	// it is done is typed by it.
	ctxErr  func() error
	secrets []string // credentials of the request, scrubbed from messages

	mu     sync.Mutex
	ended  bool
	n      int64   // bytes read
	buf    *[]byte // the body, up to the limit (modeJSON, modeError)
	over   bool    // the body went past the limit
	gzip   bool    // the body is gzip-compressed
	stream *streamState
}

func (x *exchange) Read(p []byte) (int, error) {
	n, err := x.rc.Read(p)
	x.mu.Lock()
	if x.ended {
		x.mu.Unlock()
		return n, err
	}
	x.n += int64(n)
	var end bool
	var resp Response
	var cerr error
	switch x.mode {
	case modeStream:
		x.stream.parser.feed(p[:n], x.stream)
		if x.stream.done { // at the terminator: what follows does not matter
			resp, cerr = x.stream.result(x.stream.err)
			end = true
		}
	case modeJSON, modeError:
		x.tee(p[:n])
	}
	switch {
	case end:
	case err != nil:
		resp, cerr = x.finish(err)
		end = true
	case x.mode != modeStream && x.length > 0 && x.n >= x.length:
		resp, cerr = x.finish(io.EOF) // all there: the next Read would say EOF
		end = true
	}
	x.ended = x.ended || end
	x.mu.Unlock()
	if end {
		x.call.End(resp, cerr)
	}
	return n, err
}

func (x *exchange) Close() error {
	x.mu.Lock()
	end := !x.ended
	var resp Response
	var cerr error
	if end {
		resp, cerr = x.finishClose()
		x.ended = true
	}
	x.mu.Unlock()
	err := x.rc.Close()
	if end {
		x.call.End(resp, cerr)
	}
	return err
}

func (x *exchange) limit() int {
	if x.mode == modeError {
		return min(x.cfg.maxBody, maxErrorBodyBytes)
	}
	return x.cfg.maxBody
}

// tee keeps p, up to the limit.
func (x *exchange) tee(p []byte) {
	if x.over || len(p) == 0 {
		return
	}
	if x.buf == nil {
		x.buf = bufPool.Get().(*[]byte)
		if x.length > 0 && x.length <= int64(x.limit()) && cap(*x.buf) < int(x.length) {
			*x.buf = make([]byte, 0, x.length)
		}
	}
	if len(*x.buf)+len(p) > x.limit() {
		x.over = true
		x.release()
		return
	}
	*x.buf = append(*x.buf, p...)
}

// body returns the body kept, decompressed. The error is errTooLong if it
// decompresses to more than the limit, else what stopped the
// decompression.
func (x *exchange) body() ([]byte, error) {
	if x.buf == nil {
		return nil, nil
	}
	if !x.gzip {
		return *x.buf, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(*x.buf))
	if err != nil {
		return nil, err
	}
	out, err := io.ReadAll(io.LimitReader(zr, int64(x.limit())+1))
	switch {
	case err != nil:
		return nil, err
	case len(out) > x.limit():
		return nil, errTooLong
	}
	return out, nil
}

var errTooLong = errors.New("body over the limit")

func (x *exchange) release() {
	if x.buf == nil {
		return
	}
	if cap(*x.buf) <= maxPooledBuf {
		*x.buf = (*x.buf)[:0]
		bufPool.Put(x.buf)
	}
	x.buf = nil
}

// finish returns the outcome of the call whose body ended with err (io.EOF
// at its end).
func (x *exchange) finish(err error) (Response, error) {
	defer x.release()
	switch x.mode {
	case modeStream:
		return x.stream.result(x.streamError(err))
	case modeError:
		return Response{}, statusError(x.status, x.errorMessage())
	case modeOther:
		if err == io.EOF {
			return Response{}, nil
		}
		return Response{}, typeByContext(x.ctxErr, err)
	}
	switch {
	case err == io.EOF && x.over:
		return Response{}, nil // too long to parse: only the request's attributes
	case err == io.EOF:
		body, berr := x.body()
		switch {
		case berr == errTooLong:
			return Response{}, nil
		case berr != nil:
			return Response{}, malformed(berr)
		}
		return parseResponse(x.format, x.op, body, x.cfg)
	case errors.Is(err, io.ErrUnexpectedEOF) && x.ctxErr() == nil:
		return Response{}, &callError{typ: ErrorTypeIncompleteResponse, msg: "response body cut short: " + err.Error(), err: err}
	}
	return Response{}, typeByContext(x.ctxErr, err)
}

// streamError returns the error of a stream that ended with err, or nil
// if it ended well (at its terminator).
func (x *exchange) streamError(err error) error {
	st := x.stream
	if err == io.EOF {
		st.parser.flush(st)
	}
	switch {
	case st.done, st.err != nil:
		return st.err // nil if it ended well
	case x.ctxErr() != nil:
		return typeByContext(x.ctxErr, err)
	case err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF):
		return &callError{typ: ErrorTypeIncompleteStream, msg: "stream ended before its terminator", err: err}
	}
	return err
}

// finishClose returns the outcome of a call whose body the caller closed
// before its end.
func (x *exchange) finishClose() (Response, error) {
	canceled := &callError{typ: ErrorTypeCanceled, msg: "response body closed before its end", err: context.Canceled}
	switch x.mode {
	case modeJSON:
		// A JSON decoder may stop at the closing brace, short of EOF.
		if b, err := x.body(); !x.over && err == nil && len(b) > 0 && jsonComplete(b) {
			return x.finish(io.EOF)
		}
		x.release()
		return Response{}, canceled
	case modeStream:
		st := x.stream
		st.parser.flush(st)
		if st.done || st.err != nil {
			return st.result(st.err)
		}
		return st.result(canceled)
	}
	return x.finish(io.EOF)
}

// errorMessage returns the scrubbed message of an error body, or "".
func (x *exchange) errorMessage() string {
	if x.over {
		return ""
	}
	body, err := x.body()
	if err != nil {
		return ""
	}
	msg := errorBodyMessage(body)
	if msg == "" {
		return ""
	}
	return scrub(msg, x.secrets)
}
