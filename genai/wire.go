package genai

import (
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// This file holds what the wire formats share: the request's parameters,
// errors, content parts, and the state of a streamed response.

// parseRequest adds to r what body, a request of format, says: the model
// and parameters, and with capture on the content. Whatever cannot be
// parsed is left out.
func parseRequest(format wireFormat, body []byte, r *Request, cfg *config) {
	it, ok := iterObject(body)
	if !ok {
		return
	}
	var maxTokens, maxCompletionTokens int
	var stop []string
	var messages, system, prompt []byte
	for key, v, ok := it.next(); ok; key, v, ok = it.next() {
		switch string(key) {
		case "messages":
			messages = v
		case "system":
			system = v
		case "prompt":
			prompt = v
		case "model":
			r.Model, _ = jsonStr(v)
		case "max_tokens":
			maxTokens, _ = jsonInt(v)
		case "max_completion_tokens":
			maxCompletionTokens, _ = jsonInt(v)
		case "temperature":
			r.Temperature = jsonFloatPtr(v)
		case "top_p":
			r.TopP = jsonFloatPtr(v)
		case "top_k":
			r.TopK = jsonFloatPtr(v)
		case "frequency_penalty":
			r.FrequencyPenalty = jsonFloatPtr(v)
		case "presence_penalty":
			r.PresencePenalty = jsonFloatPtr(v)
		case "stop":
			if s := jsonStrings(v); len(s) > 0 {
				r.StopSequences = s
			}
		case "stop_sequences":
			stop = jsonStrings(v)
		case "seed":
			r.Seed = jsonIntPtr(v)
		case "n":
			r.ChoiceCount, _ = jsonInt(v)
		case "stream":
			r.Stream = string(v) == "true"
		case "encoding_format":
			if s, ok := jsonStr(v); ok && s != "" {
				r.EncodingFormats = []string{s}
			}
		}
	}
	switch {
	case maxCompletionTokens > 0:
		r.MaxTokens = maxCompletionTokens
	case maxTokens > 0:
		r.MaxTokens = maxTokens
	}
	if len(r.StopSequences) == 0 {
		r.StopSequences = stop
	}
	if cfg.capture == CaptureNone || it.err {
		return
	}
	switch format {
	case formatOpenAI:
		openAIRequestContent(messages, prompt, r, cfg)
	case formatAnthropic:
		anthropicRequestContent(system, messages, r, cfg)
	}
}

// parseResponse returns what body, the whole JSON body of a 2xx response
// of format to an operation op, says.
func parseResponse(format wireFormat, op string, body []byte, cfg *config) (Response, error) {
	switch format {
	case formatAnthropic:
		return parseAnthropicResponse(body, cfg)
	default:
		return parseOpenAIResponse(op, body, cfg)
	}
}

func malformed(err error) error {
	msg := "response body is not the JSON the API sends"
	if err != nil {
		msg += ": " + err.Error()
	}
	return &callError{typ: ErrorTypeMalformedResponse, msg: msg, err: err}
}

// wireError is the error object of both APIs,
// {"type": ..., "code": ..., "message": ...}, or a plain string.
type wireError struct {
	Message string
	Type    string
}

func (e *wireError) read(v []byte) {
	if s, ok := jsonStr(v); ok {
		e.Message = s
		return
	}
	var code string
	it, _ := iterObject(v)
	for key, v, ok := it.next(); ok; key, v, ok = it.next() {
		switch string(key) {
		case "message":
			e.Message, _ = jsonStr(v)
		case "type":
			e.Type, _ = jsonStr(v)
		case "code":
			code, _ = jsonStr(v)
		}
	}
	if e.Type == "" {
		e.Type = code
	}
}

// err returns the in-band error e reports, typed by its type.
func (e *wireError) err() error {
	typ := e.Type
	if typ == "" || len(typ) > 64 {
		typ = "_OTHER"
	}
	msg := "error from the API"
	if e.Message != "" {
		msg += ": " + scrub(e.Message, nil)
	}
	return &callError{typ: typ, msg: msg}
}

// errorBodyMessage returns the message of an error response's body
// ({"error": {"message": ...}}, {"message": ...}, {"detail": ...}), or "".
func errorBodyMessage(body []byte) string {
	var e wireError
	var message, detail string
	it, _ := iterObject(body)
	for key, v, ok := it.next(); ok; key, v, ok = it.next() {
		switch string(key) {
		case "error":
			e.read(v)
		case "message":
			message, _ = jsonStr(v)
		case "detail":
			detail, _ = jsonStr(v)
		}
	}
	switch {
	case e.Message != "":
		return e.Message
	case message != "":
		return message
	}
	return detail
}

// textPart returns a text part of s.
func textPart(s string) Part { return Part{Type: "text", Content: s} }

// toolArguments returns the arguments of a tool call as captured: the
// JSON value if s is JSON, else the string; redacted, and cut to the
// content limit. (encodeContent redacts and cuts text contents only.)
func toolArguments(s string, cfg *config) any {
	if cfg.redact != nil {
		s = cfg.redact(s)
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) > cfg.maxContent {
		return cutString(s, cfg.maxContent)
	}
	if b := []byte(s); json.Valid(b) {
		return json.RawMessage(b)
	}
	return s
}

// toolResult returns the result of a tool call as captured: redacted and
// cut to the content limit.
func toolResult(s string, cfg *config) any {
	if cfg.redact != nil {
		s = cfg.redact(s)
	}
	return cutString(s, cfg.maxContent)
}

// Bounds of what a stream's state holds, whatever indexes the server
// sends.
const (
	maxStreamChoices = 128
	maxStreamParts   = 64
)

// streamState parses a streamed response and holds what it said.
type streamState struct {
	format  wireFormat
	call    *Call
	cfg     *config
	capture bool
	parser  sseParser

	budget  int   // bytes of content it may still keep
	started bool  // an event came
	done    bool  // the terminator came
	err     error // an in-band error came

	id, model string
	resp      Response // usage
	finish    []string // finish reason of each choice

	// Content, with capture on: each choice's (OpenAI) or the message's
	// blocks (Anthropic).
	choices []outChoice
	blocks  []outBlock
}

// outChoice is the content of one choice of a streamed OpenAI response.
type outChoice struct {
	reasoning, text []byte
	tools           []outBlock
}

// outBlock is a part of a streamed response: "text", "reasoning" or
// "tool_call".
type outBlock struct {
	typ      string
	id, name string
	text     []byte // the text, or the tool call's arguments
}

func newStreamState(format wireFormat, call *Call, cfg *config) *streamState {
	return &streamState{
		format: format, call: call, cfg: cfg, capture: cfg.capture != CaptureNone,
		parser: newSSEParser(min(cfg.maxBody, maxEventBytes)),
		// Captured content is cut to maxContent in all: keeping twice that
		// leaves room to cut each part fairly.
		budget: 2*cfg.maxContent + 1,
	}
}

// event handles one event of the stream.
func (st *streamState) event(name, data []byte) {
	if st.done {
		return
	}
	if !st.started && string(name) != "ping" {
		st.started = true
		if st.call != nil {
			st.call.FirstChunk()
		}
	}
	switch st.format {
	case formatAnthropic:
		st.anthropicEvent(name, data)
	default:
		st.openAIEvent(data)
	}
}

// setFinish records the finish reason of choice i.
func (st *streamState) setFinish(i int, reason string) {
	if reason == "" || i < 0 || i >= maxStreamChoices {
		return
	}
	for len(st.finish) <= i {
		st.finish = append(st.finish, "")
	}
	st.finish[i] = reason
}

// appendBounded appends s to b, keeping b within the content limit, and
// all the content kept within the stream's budget.
func (st *streamState) appendBounded(b []byte, s string) []byte {
	if room := min(st.cfg.maxContent+1-len(b), st.budget); room > 0 {
		n := min(len(s), room)
		for n < len(s) && n > 0 && !utf8.RuneStart(s[n]) {
			n-- // not in the middle of a character
		}
		b = append(b, s[:n]...)
		st.budget -= n
	}
	return b
}

// result returns the response the stream gave, and err.
func (st *streamState) result(err error) (Response, error) {
	r := st.resp
	r.ID, r.Model = st.id, st.model
	for _, f := range st.finish {
		if f != "" {
			r.FinishReasons = append(r.FinishReasons, f)
		}
	}
	if st.capture {
		r.OutputMessages = st.outputMessages()
	}
	return r, err
}

func (st *streamState) outputMessages() []Message {
	block := func(b outBlock) Part {
		switch b.typ {
		case "tool_call":
			return Part{Type: b.typ, ID: b.id, Name: b.name, Arguments: toolArguments(string(b.text), st.cfg)}
		default:
			return Part{Type: b.typ, Content: string(b.text)}
		}
	}
	finish := func(i int) string {
		if i < len(st.finish) {
			return st.finish[i]
		}
		return ""
	}
	if st.format == formatAnthropic {
		if len(st.blocks) == 0 {
			return nil
		}
		m := Message{Role: "assistant", FinishReason: finish(0)}
		for _, b := range st.blocks {
			if b.typ != "" {
				m.Parts = append(m.Parts, block(b))
			}
		}
		return []Message{m}
	}
	var out []Message
	for i, c := range st.choices {
		m := Message{Role: "assistant", FinishReason: finish(i)}
		if len(c.reasoning) > 0 {
			m.Parts = append(m.Parts, Part{Type: "reasoning", Content: string(c.reasoning)})
		}
		if len(c.text) > 0 {
			m.Parts = append(m.Parts, textPart(string(c.text)))
		}
		for _, t := range c.tools {
			m.Parts = append(m.Parts, block(t))
		}
		if m.Parts == nil {
			m.Parts = []Part{}
		}
		out = append(out, m)
	}
	return out
}

// jsonComplete says whether b is a whole JSON value.
func jsonComplete(b []byte) bool { return json.Valid(b) }
