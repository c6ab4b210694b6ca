package genai

import "bytes"

// The OpenAI wire format: chat completions, completions and embeddings,
// as OpenAI and the many servers compatible with it (Azure OpenAI, Groq,
// DeepSeek, Mistral, xAI, vLLM, LiteLLM, Ollama...) speak it.

// openAIUsage reads a usage object into r. The prompt tokens include the
// cached ones, as gen_ai.usage.input_tokens should.
func openAIUsage(v []byte, r *Response) {
	it, ok := iterObject(v)
	if !ok {
		return
	}
	var cached, cacheHit int
	for key, v, ok := it.next(); ok; key, v, ok = it.next() {
		switch string(key) {
		case "prompt_tokens":
			r.InputTokens, _ = jsonInt(v)
		case "completion_tokens":
			r.OutputTokens, _ = jsonInt(v)
		case "prompt_cache_hit_tokens": // DeepSeek's
			cacheHit, _ = jsonInt(v)
		case "prompt_tokens_details":
			if n, ok := jsonInt(member(v, "cached_tokens")); ok {
				cached = n
			}
		case "completion_tokens_details":
			r.ReasoningOutputTokens, _ = jsonInt(member(v, "reasoning_tokens"))
		case "cost": // OpenRouter's, in US dollars (its credits)
			if f, ok := jsonFloat(v); ok && f >= 0 {
				r.ProviderCost = &Cost{Amount: f, Currency: "USD"}
			}
		}
	}
	r.CacheReadInputTokens = cacheHit
	if cached > 0 {
		r.CacheReadInputTokens = cached
	}
}

// member returns the value of the member key of the object v, or nil.
func member(v []byte, key string) []byte {
	it, _ := iterObject(v)
	for k, v, ok := it.next(); ok; k, v, ok = it.next() {
		if string(k) == key {
			return v
		}
	}
	return nil
}

func parseOpenAIResponse(op string, body []byte, cfg *config) (Response, error) {
	it, ok := iterObject(body)
	if !ok {
		return Response{}, malformed(nil)
	}
	capture := cfg.capture != CaptureNone && op != OperationEmbeddings
	var r Response
	var errVal []byte
	choices := 0
	for key, v, ok := it.next(); ok; key, v, ok = it.next() {
		switch string(key) {
		case "id":
			r.ID, _ = jsonStr(v)
		case "model":
			r.Model, _ = jsonStr(v)
		case "choices":
			ci, _ := iterArray(v)
			for _, c, ok := ci.next(); ok; _, c, ok = ci.next() {
				choices++
				m := openAIChoice(c, capture, cfg)
				if m.FinishReason != "" {
					r.FinishReasons = append(r.FinishReasons, m.FinishReason)
				}
				if capture {
					r.OutputMessages = append(r.OutputMessages, m)
				}
			}
		case "usage":
			openAIUsage(v, &r)
		case "error":
			if !isNull(v) {
				errVal = v
			}
		}
	}
	if !it.complete() {
		return Response{}, malformed(nil)
	}
	if errVal != nil && r.ID == "" && choices == 0 {
		var e wireError
		e.read(errVal)
		return r, e.err()
	}
	return r, nil
}

// openAIChoice reads a choice of a response: its finish reason, and with
// capture its message (chat) or text (completions).
func openAIChoice(v []byte, capture bool, cfg *config) Message {
	m := Message{Role: "assistant"}
	it, _ := iterObject(v)
	for key, v, ok := it.next(); ok; key, v, ok = it.next() {
		switch string(key) {
		case "finish_reason":
			m.FinishReason, _ = jsonStr(v)
		case "message":
			if capture {
				role, parts := openAIMessage(v, cfg)
				if role != "" {
					m.Role = role
				}
				m.Parts = parts
			}
		case "text":
			if s, ok := jsonStr(v); ok && capture {
				m.Parts = []Part{textPart(s)}
			}
		}
	}
	if capture && m.Parts == nil {
		m.Parts = []Part{}
	}
	return m
}

// openAIMessage reads a message of a request or a response: its role and
// parts (text, reasoning, tool calls; a tool message's content as a tool
// call response).
func openAIMessage(v []byte, cfg *config) (role string, parts []Part) {
	var content, refusal, reasoning, toolCalls, toolCallID []byte
	it, _ := iterObject(v)
	for key, v, ok := it.next(); ok; key, v, ok = it.next() {
		switch string(key) {
		case "role":
			role, _ = jsonStr(v)
		case "content":
			content = v
		case "refusal":
			refusal = v
		case "reasoning_content": // DeepSeek's (and others') reasoning text
			reasoning = v
		case "tool_calls":
			toolCalls = v
		case "tool_call_id":
			toolCallID = v
		}
	}
	parts = []Part{}
	if s, _ := jsonStr(reasoning); s != "" {
		parts = append(parts, Part{Type: "reasoning", Content: s})
	}
	if role == "tool" {
		id, _ := jsonStr(toolCallID)
		return role, append(parts, Part{Type: "tool_call_response", ID: id, Response: toolResult(joinText(contentParts(content)), cfg)})
	}
	parts = append(parts, contentParts(content)...)
	if s, _ := jsonStr(refusal); s != "" {
		parts = append(parts, textPart(s))
	}
	tc, _ := iterArray(toolCalls)
	for _, c, ok := tc.next(); ok; _, c, ok = tc.next() {
		var p openAIToolCall
		p.read(c)
		parts = append(parts, Part{Type: "tool_call", ID: p.id, Name: p.name, Arguments: toolArguments(p.args, cfg)})
	}
	return role, parts
}

// openAIToolCall is a tool call, or a streamed piece of one.
type openAIToolCall struct {
	index          int
	id, name, args string
}

func (p *openAIToolCall) read(v []byte) {
	it, _ := iterObject(v)
	for key, v, ok := it.next(); ok; key, v, ok = it.next() {
		switch string(key) {
		case "index":
			p.index, _ = jsonInt(v)
		case "id":
			p.id, _ = jsonStr(v)
		case "function":
			fi, _ := iterObject(v)
			for k, v, ok := fi.next(); ok; k, v, ok = fi.next() {
				switch string(k) {
				case "name":
					p.name, _ = jsonStr(v)
				case "arguments":
					p.args, _ = jsonStr(v)
				}
			}
		}
	}
}

// contentParts returns the text parts of a content: a string, or a list
// of parts of which the text ones are kept (images, audio and files are
// not captured).
func contentParts(v []byte) []Part {
	if s, ok := jsonStr(v); ok {
		return []Part{textPart(s)}
	}
	it, ok := iterArray(v)
	if !ok {
		return nil
	}
	var parts []Part
	for _, b, ok := it.next(); ok; _, b, ok = it.next() {
		var typ, text string
		bi, _ := iterObject(b)
		for k, v, ok := bi.next(); ok; k, v, ok = bi.next() {
			switch string(k) {
			case "type":
				typ, _ = jsonStr(v)
			case "text":
				text, _ = jsonStr(v)
			}
		}
		if typ == "text" || typ == "input_text" || typ == "output_text" {
			parts = append(parts, textPart(text))
		}
	}
	return parts
}

// joinText returns the contents of parts, one after the other.
func joinText(parts []Part) string {
	if len(parts) == 1 {
		return parts[0].Content
	}
	var b bytes.Buffer
	for _, p := range parts {
		b.WriteString(p.Content)
	}
	return b.String()
}

// openAIRequestContent sets the content of a request: the system and
// developer messages as system instructions, the others as input messages
// (a completion's prompt as a user message).
func openAIRequestContent(messages, prompt []byte, r *Request, cfg *config) {
	it, _ := iterArray(messages)
	for _, m, ok := it.next(); ok; _, m, ok = it.next() {
		role, parts := openAIMessage(m, cfg)
		if role == "system" || role == "developer" {
			r.SystemInstructions = append(r.SystemInstructions, parts...)
			continue
		}
		r.InputMessages = append(r.InputMessages, Message{Role: role, Parts: parts})
	}
	if s, ok := jsonStr(prompt); ok {
		r.InputMessages = append(r.InputMessages, Message{Role: "user", Parts: []Part{textPart(s)}})
	} else if p := jsonStrings(prompt); len(p) > 0 {
		m := Message{Role: "user"}
		for _, s := range p {
			m.Parts = append(m.Parts, textPart(s))
		}
		r.InputMessages = append(r.InputMessages, m)
	}
}

var doneData = []byte("[DONE]")

// openAIEvent handles the data of one event of an OpenAI stream: a chunk,
// or the terminator [DONE]. It reads the id and model (of the first chunk
// that has them), finish reasons, usage (the final chunk's, with
// stream_options.include_usage, or every chunk's on some servers) and an
// in-band error; with capture, the content of the deltas.
func (st *streamState) openAIEvent(data []byte) {
	data = bytes.TrimSpace(data)
	if bytes.Equal(data, doneData) {
		st.done = true
		return
	}
	it, ok := iterObject(data)
	if !ok {
		return
	}
	for key, v, ok := it.next(); ok; key, v, ok = it.next() {
		switch string(key) {
		case "id":
			if st.id == "" {
				st.id, _ = jsonStr(v)
			}
		case "model":
			if st.model == "" {
				st.model, _ = jsonStr(v)
			}
		case "choices":
			ci, _ := iterArray(v)
			for _, c, ok := ci.next(); ok; _, c, ok = ci.next() {
				st.openAIChunkChoice(c)
			}
		case "usage":
			openAIUsage(v, &st.resp)
		case "error":
			if !isNull(v) && st.err == nil {
				var e wireError
				e.read(v)
				if e.Message != "" || e.Type != "" {
					st.err = e.err()
				}
			}
		}
	}
}

// openAIChunkChoice reads a choice of a chunk.
func (st *streamState) openAIChunkChoice(v []byte) {
	index := 0
	var finish, delta, text []byte
	it, _ := iterObject(v)
	for key, v, ok := it.next(); ok; key, v, ok = it.next() {
		switch string(key) {
		case "index":
			index, _ = jsonInt(v)
		case "finish_reason":
			finish = v
		case "delta":
			delta = v
		case "text": // completions
			text = v
		}
	}
	if !isNull(finish) {
		s, _ := jsonStr(finish)
		st.setFinish(index, s)
	}
	if !st.capture || index < 0 || index >= maxStreamChoices {
		return
	}
	for len(st.choices) <= index {
		st.choices = append(st.choices, outChoice{})
	}
	oc := &st.choices[index]
	if s, ok := jsonStr(text); ok {
		oc.text = st.appendBounded(oc.text, s)
	}
	di, _ := iterObject(delta)
	for key, v, ok := di.next(); ok; key, v, ok = di.next() {
		switch string(key) {
		case "content":
			for _, p := range contentParts(v) {
				oc.text = st.appendBounded(oc.text, p.Content)
			}
		case "refusal":
			if s, ok := jsonStr(v); ok {
				oc.text = st.appendBounded(oc.text, s)
			}
		case "reasoning_content":
			if s, ok := jsonStr(v); ok {
				oc.reasoning = st.appendBounded(oc.reasoning, s)
			}
		case "tool_calls":
			ti, _ := iterArray(v)
			for _, c, ok := ti.next(); ok; _, c, ok = ti.next() {
				var p openAIToolCall
				p.read(c)
				if p.index < 0 || p.index >= maxStreamParts {
					continue
				}
				for len(oc.tools) <= p.index {
					oc.tools = append(oc.tools, outBlock{typ: "tool_call"})
				}
				t := &oc.tools[p.index]
				if p.id != "" {
					t.id = p.id
				}
				if p.name != "" {
					t.name = p.name
				}
				t.text = st.appendBounded(t.text, p.args)
			}
		}
	}
}
