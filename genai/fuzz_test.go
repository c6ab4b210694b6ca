package genai

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"
	"unicode/utf8"
)

// fuzzConfig captures content, with small bounds, so that the fuzzers
// reach the content parsers and check the bounds.
func fuzzConfig() *config {
	return &config{capture: CaptureSpanAndEvent, captureSet: true, maxBody: 4 << 10, maxContent: 512,
		redact: func(s string) string { return s }}
}

// FuzzParseRequest: any request body, of either format, parses without a
// panic into attributes and content within bounds.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		`{"model":"gpt-4o-mini","messages":[{"role":"system","content":"x"},{"role":"user","content":[{"type":"text","text":"hi"}]}],"temperature":0.7,"stop":"END","seed":1,"n":2}`,
		`{"model":"claude","max_tokens":10,"system":[{"type":"text","text":"s"}],"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"text","text":"r"}]}]}],"stop_sequences":["a"]}`,
		`{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","function":{"name":"f","arguments":"{\"a\":1}"}}]},{"role":"tool","tool_call_id":"c","content":"ok"}]}`,
		`{"model":"m","prompt":["a","b"],"max_tokens":-1,"temperature":"hot","stop":[1,2]}`,
		`{"model":"m","input":"x","encoding_format":"base64"}`,
		`{"model":1e999,"seed":99999999999999999999999}`,
		`[]`, `null`, `{`, ``,
	} {
		f.Add(uint8(0), []byte(s))
		f.Add(uint8(1), []byte(s))
	}
	f.Fuzz(func(t *testing.T, format uint8, body []byte) {
		cfg := fuzzConfig()
		wf := formatOpenAI
		if format%2 == 1 {
			wf = formatAnthropic
		}
		var r Request
		parseRequest(wf, body, &r, cfg)
		if r.MaxTokens < 0 {
			t.Errorf("MaxTokens %d < 0", r.MaxTokens)
		}
		validUTF8(t, append([]string{r.Model}, append(r.StopSequences, r.EncodingFormats...)...)...)
		_ = requestAttributes(r)
		for _, kv := range inputContent(r, *cfg) {
			if s := kv.Value.AsString(); len(s) > cfg.maxContent || !json.Valid([]byte(s)) {
				t.Errorf("%s: %d bytes, valid JSON %t; want valid JSON within %d bytes", kv.Key, len(s), json.Valid([]byte(s)), cfg.maxContent)
			}
		}
	})
}

// FuzzParseResponse: any JSON response body, of any format and operation,
// parses without a panic; an error is typed.
func FuzzParseResponse(f *testing.F) {
	for _, s := range []string{
		`{"id":"chatcmpl-1","model":"gpt","choices":[{"index":0,"message":{"role":"assistant","content":"hi","tool_calls":[{"id":"c","function":{"name":"f","arguments":"{}"}}]},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":1},"completion_tokens_details":{"reasoning_tokens":1}}}`,
		`{"id":"cmpl-1","choices":[{"text":"t","finish_reason":"length"}],"usage":{"prompt_tokens":5}}`,
		`{"object":"list","data":[{"embedding":[0.1]}],"model":"e","usage":{"prompt_tokens":8}}`,
		`{"id":"msg_1","type":"message","role":"assistant","model":"claude","content":[{"type":"text","text":"x"},{"type":"thinking","thinking":"y"},{"type":"tool_use","id":"t","name":"n","input":{"a":1}}],"stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":2,"cache_read_input_tokens":3}}`,
		`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`,
		`{"error":{"message":"bad","code":"x"}}`, `{"error":"plain"}`, `{"detail":"nope"}`,
		`{"choices":"x","usage":[]}`, `{`, ``, `"str"`,
	} {
		f.Add(uint8(0), []byte(s))
	}
	f.Fuzz(func(t *testing.T, sel uint8, body []byte) {
		cfg := fuzzConfig()
		wf := formatOpenAI
		if sel%2 == 1 {
			wf = formatAnthropic
		}
		op := []string{OperationChat, OperationTextCompletion, OperationEmbeddings}[int(sel/2)%3]
		resp, err := parseResponse(wf, op, body, cfg)
		if err != nil && ErrorType(err) == "" {
			t.Errorf("error %v without a type", err)
		}
		validUTF8(t, append([]string{resp.ID, resp.Model}, resp.FinishReasons...)...)
		if err != nil {
			validUTF8(t, err.Error())
		}
		if len(resp.OutputMessages) > 0 {
			s := outputContent(resp, *cfg)[0].Value.AsString()
			if len(s) > cfg.maxContent || !json.Valid([]byte(s)) {
				t.Errorf("output messages: %d bytes, want valid JSON within %d", len(s), cfg.maxContent)
			}
		}
		if msg := errorBodyMessage(body); len(scrub(msg, []string{"sk-secret"})) > 600 {
			t.Errorf("error message of %d bytes", len(msg))
		}
	})
}

// FuzzJSONScan checks the scanner against encoding/json: on valid JSON,
// the members of an object (or elements of an array) it reads are those
// encoding/json reads, and so are the strings and numbers it decodes; on
// anything, it does not panic.
func FuzzJSONScan(f *testing.F) {
	for _, s := range []string{
		`{"a":1,"b":"x\"y","c":[1,{"d":null}],"e":{"f":[true,false]},"g":-1.5e3}`,
		`{"k\u0041y":"\u00e9\ud83d\ude00","":"","a":"\\"}`,
		`[1,"two",[3],{"4":4}]`, `{}`, `[]`, `{"a":1,"a":2}`, `{"a" : [ ] , "b" : { } }`,
		"{\"a\":\"\x80\"}", `{"a":1,}`, `{"a":[1,2}`, `{"a":"x}`, `{"a":tru}`, `{"a":1}x`, `"s"`, `1`, `{"a":9007199254740993}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		it, isObj := iterObject(b)
		if !isObj {
			it, _ = iterArray(b)
		}
		type kv struct {
			key string
			val []byte
		}
		var got []kv
		for key, v, ok := it.next(); ok; key, v, ok = it.next() {
			if len(v) == 0 {
				t.Fatalf("empty value for key %q", key)
			}
			k := string(key)
			if isObj {
				var ok bool
				if k, ok = jsonStr(append(append([]byte{'"'}, key...), '"')); !ok && json.Valid(b) {
					t.Fatalf("key %q not decoded", key)
				}
			}
			got = append(got, kv{k, v})
			_, _ = jsonStr(v)
			_, _ = jsonInt(v)
			_ = jsonStrings(v)
		}
		if !json.Valid(b) {
			return
		}
		if (isObj || bytes.HasPrefix(bytes.TrimLeft(b, " \t\r\n"), []byte("["))) && !it.complete() {
			t.Fatalf("valid JSON %q not read to its end", b)
		}
		if !isObj {
			var want []json.RawMessage
			if json.Unmarshal(b, &want) != nil {
				return // not an array
			}
			if len(got) != len(want) {
				t.Fatalf("%d elements, encoding/json reads %d", len(got), len(want))
			}
			for i := range want {
				checkValue(t, got[i].val, want[i])
			}
			return
		}
		want := map[string]json.RawMessage{}
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatalf("encoding/json: %v", err)
		}
		last := map[string][]byte{}
		for _, m := range got {
			last[m.key] = m.val
		}
		if len(last) != len(want) {
			t.Fatalf("keys %d, encoding/json reads %d", len(last), len(want))
		}
		for k, w := range want {
			g, ok := last[k]
			if !ok {
				t.Fatalf("key %q missing", k)
			}
			checkValue(t, g, w)
		}
	})
}

// checkValue checks that the scanner's raw value and what it decodes of it
// are encoding/json's.
func checkValue(t *testing.T, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, bytes.TrimSpace(want)) {
		t.Fatalf("value %q, encoding/json reads %q", got, want)
	}
	var ws string
	if json.Unmarshal(want, &ws) == nil {
		if gs, ok := jsonStr(got); !ok || gs != ws {
			t.Fatalf("string %q decoded as %q, %t; want %q", got, gs, ok, ws)
		}
	}
	var wf float64
	if json.Unmarshal(want, &wf) == nil {
		if gf, ok := jsonFloat(got); !ok || gf != wf {
			t.Fatalf("number %q decoded as %v, %t; want %v", got, gf, ok, wf)
		}
	}
	var wi int
	if json.Unmarshal(want, &wi) == nil {
		if gi, ok := jsonInt(got); !ok || gi != wi {
			t.Fatalf("int %q decoded as %v, %t; want %v", got, gi, ok, wi)
		}
	}
}

// validUTF8 fails if a string is not valid UTF-8, which the OTLP exporter
// would reject.
func validUTF8(t *testing.T, ss ...string) {
	t.Helper()
	for _, s := range ss {
		if !utf8.ValidString(s) {
			t.Fatalf("%q is not valid UTF-8", s)
		}
	}
}

// events records the events an sseParser dispatches.
type events struct{ got []string }

func (e *events) event(name, data []byte) {
	e.got = append(e.got, string(name)+"\x00"+string(data))
}

// FuzzSSE: any byte stream, fed in pieces of any size, gives the same
// events as fed whole, keeps the parser within its bounds, and drives the
// stream states of both formats without a panic, their content bounded.
func FuzzSSE(f *testing.F) {
	for _, s := range []string{
		"data: {\"id\":\"c\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\",\"tool_calls\":[{\"index\":0,\"id\":\"t\",\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":3}}\n\ndata: [DONE]\n\n",
		"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg\",\"model\":\"c\",\"usage\":{\"input_tokens\":2}}}\n\nevent: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"n\"}}\n\nevent: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"a\\\":\"}}\n\nevent: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},\"usage\":{\"output_tokens\":5}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
		"event: error\r\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\"}}\r\n\r\n",
		": keep-alive\rdata:a\rdata:b\r\r",
		"data: {\"choices\":[{\"index\":99999999,\"delta\":{\"content\":\"x\"}}]}\n\n",
		"data: {\"type\":\"content_block_delta\",\"index\":-1}\n\n",
		"data", "\n\n\n", "data:" + string(bytes.Repeat([]byte("x"), 300)) + "\n\n",
		"data: a\r" + string(bytes.Repeat([]byte("y"), 300)) + "\n", // a whole line over the limit drops its event too
	} {
		f.Add([]byte(s), uint8(7))
	}
	const limit = 256
	f.Fuzz(func(t *testing.T, stream []byte, piece uint8) {
		size := int(piece)%64 + 1
		whole, split := &events{}, &events{}
		p1, p2 := newSSEParser(limit), newSSEParser(limit)
		p1.feed(stream, whole)
		p1.flush(whole)
		for rest := stream; len(rest) > 0; {
			n := min(size, len(rest))
			p2.feed(rest[:n], split)
			if len(p2.line) > limit || len(p2.data) > limit || len(p2.name) > maxEventName {
				t.Fatalf("parser over its bounds: line %d, data %d, name %d", len(p2.line), len(p2.data), len(p2.name))
			}
			rest = rest[n:]
		}
		p2.flush(split)
		if !slices.Equal(whole.got, split.got) {
			t.Fatalf("fed in pieces of %d: events\n%q\nwant, as fed whole,\n%q", size, split.got, whole.got)
		}
		for _, format := range []wireFormat{formatOpenAI, formatAnthropic} {
			cfg := fuzzConfig()
			st := newStreamState(format, nil, cfg)
			for rest := stream; len(rest) > 0; {
				n := min(size, len(rest))
				st.parser.feed(rest[:n], st)
				rest = rest[n:]
			}
			st.parser.flush(st)
			if len(st.choices) > maxStreamChoices || len(st.blocks) > maxStreamParts || len(st.finish) > maxStreamChoices {
				t.Fatalf("stream state over its bounds: %d choices, %d blocks, %d finish reasons", len(st.choices), len(st.blocks), len(st.finish))
			}
			for _, c := range st.choices {
				if len(c.text) > cfg.maxContent+1 || len(c.reasoning) > cfg.maxContent+1 || len(c.tools) > maxStreamParts {
					t.Fatalf("choice content over its bounds")
				}
			}
			resp, _ := st.result(nil)
			validUTF8(t, append([]string{resp.ID, resp.Model}, resp.FinishReasons...)...)
			if len(resp.OutputMessages) > 0 {
				if s := outputContent(resp, *cfg)[0].Value.AsString(); len(s) > cfg.maxContent || !json.Valid([]byte(s)) {
					t.Fatalf("output messages: %d bytes, want valid JSON within %d", len(s), cfg.maxContent)
				}
			}
		}
	})
}
