package genai

// The Anthropic wire format: the messages API, plain and streamed.

// anthropicUsage reads a usage object into r, leaving the counts it lacks
// (a streamed message_delta may carry only the output tokens).
// Anthropic's input_tokens leaves the cached tokens out;
// gen_ai.usage.input_tokens counts them in, as the conventions ask.
func anthropicUsage(v []byte, r *Response) {
	it, ok := iterObject(v)
	if !ok {
		return
	}
	raw := r.InputTokens - r.CacheReadInputTokens - r.CacheCreationInputTokens
	inputs := false
	for key, v, ok := it.next(); ok; key, v, ok = it.next() {
		n, ok := jsonInt(v)
		if !ok {
			continue
		}
		switch string(key) {
		case "input_tokens":
			raw, inputs = n, true
		case "output_tokens":
			r.OutputTokens = n
		case "cache_creation_input_tokens":
			r.CacheCreationInputTokens, inputs = n, true
		case "cache_read_input_tokens":
			r.CacheReadInputTokens, inputs = n, true
		}
	}
	if inputs {
		r.InputTokens = raw + r.CacheReadInputTokens + r.CacheCreationInputTokens
	}
}

func parseAnthropicResponse(body []byte, cfg *config) (Response, error) {
	it, ok := iterObject(body)
	if !ok {
		return Response{}, malformed(nil)
	}
	var r Response
	var typ, role, stop string
	var errVal, content []byte
	for key, v, ok := it.next(); ok; key, v, ok = it.next() {
		switch string(key) {
		case "id":
			r.ID, _ = jsonStr(v)
		case "type":
			typ, _ = jsonStr(v)
		case "role":
			role, _ = jsonStr(v)
		case "model":
			r.Model, _ = jsonStr(v)
		case "stop_reason":
			stop, _ = jsonStr(v)
		case "usage":
			anthropicUsage(v, &r)
		case "content":
			content = v
		case "error":
			if !isNull(v) {
				errVal = v
			}
		}
	}
	if !it.complete() {
		return Response{}, malformed(nil)
	}
	if stop != "" {
		r.FinishReasons = []string{stop}
	}
	if typ == "error" && errVal != nil {
		var e wireError
		e.read(errVal)
		return r, e.err()
	}
	if cfg.capture != CaptureNone {
		if role == "" {
			role = "assistant"
		}
		r.OutputMessages = []Message{{Role: role, Parts: anthropicContent(content, cfg), FinishReason: stop}}
	}
	return r, nil
}

// anthropicContent returns the parts of a content: a string, or blocks
// of which text, thinking (as "reasoning"), tool use and tool results are
// kept (images and documents are not captured).
func anthropicContent(v []byte, cfg *config) []Part {
	parts := []Part{}
	if s, ok := jsonStr(v); ok {
		return append(parts, textPart(s))
	}
	it, _ := iterArray(v)
	for _, b, ok := it.next(); ok; _, b, ok = it.next() {
		var blk anthropicBlock
		blk.read(b)
		switch blk.typ {
		case "text":
			parts = append(parts, textPart(blk.text))
		case "thinking":
			parts = append(parts, Part{Type: "reasoning", Content: blk.text})
		case "tool_use", "server_tool_use":
			parts = append(parts, Part{Type: "tool_call", ID: blk.id, Name: blk.name, Arguments: toolArguments(string(blk.input), cfg)})
		case "tool_result":
			parts = append(parts, Part{Type: "tool_call_response", ID: blk.toolUseID,
				Response: toolResult(joinText(anthropicContent(blk.content, cfg)), cfg)})
		}
	}
	return parts
}

// anthropicBlock is a content block, or a streamed delta of one.
type anthropicBlock struct {
	typ, text, id, name, toolUseID string
	input, content                 []byte // raw JSON
	stopReason                     string // a message_delta's
}

func (b *anthropicBlock) read(v []byte) {
	it, _ := iterObject(v)
	for key, v, ok := it.next(); ok; key, v, ok = it.next() {
		switch string(key) {
		case "type":
			b.typ, _ = jsonStr(v)
		case "text", "thinking", "partial_json":
			b.text, _ = jsonStr(v)
		case "id":
			b.id, _ = jsonStr(v)
		case "name":
			b.name, _ = jsonStr(v)
		case "tool_use_id":
			b.toolUseID, _ = jsonStr(v)
		case "input":
			b.input = v
		case "content":
			b.content = v
		case "stop_reason":
			b.stopReason, _ = jsonStr(v)
		}
	}
}

// anthropicRequestContent sets the content of a request: system as the
// system instructions, messages as the input messages.
func anthropicRequestContent(system, messages []byte, r *Request, cfg *config) {
	if !isNull(system) {
		r.SystemInstructions = anthropicContent(system, cfg)
	}
	it, _ := iterArray(messages)
	for _, m, ok := it.next(); ok; _, m, ok = it.next() {
		var role string
		var content []byte
		mi, _ := iterObject(m)
		for k, v, ok := mi.next(); ok; k, v, ok = mi.next() {
			switch string(k) {
			case "role":
				role, _ = jsonStr(v)
			case "content":
				content = v
			}
		}
		r.InputMessages = append(r.InputMessages, Message{Role: role, Parts: anthropicContent(content, cfg)})
	}
}

// anthropicEvent handles one event of an Anthropic stream: message_start,
// content_block_start, content_block_delta, content_block_stop,
// message_delta, message_stop, ping or error.
func (st *streamState) anthropicEvent(name, data []byte) {
	switch string(name) {
	case "ping", "content_block_stop":
		return
	case "content_block_start", "content_block_delta":
		if !st.capture {
			return // the bulk of a stream, and nothing in it but content
		}
	}
	it, ok := iterObject(data)
	if !ok {
		return
	}
	var typ string
	var message, block, delta, usage, errVal []byte
	index := 0
	for key, v, ok := it.next(); ok; key, v, ok = it.next() {
		switch string(key) {
		case "type":
			typ, _ = jsonStr(v)
		case "message":
			message = v
		case "index":
			index, _ = jsonInt(v)
		case "content_block":
			block = v
		case "delta":
			delta = v
		case "usage":
			usage = v
		case "error":
			errVal = v
		}
	}
	switch typ {
	case "message_start":
		mi, _ := iterObject(message)
		for k, v, ok := mi.next(); ok; k, v, ok = mi.next() {
			switch string(k) {
			case "id":
				st.id, _ = jsonStr(v)
			case "model":
				st.model, _ = jsonStr(v)
			case "usage":
				anthropicUsage(v, &st.resp)
			}
		}
	case "content_block_start":
		if b := st.block(index); b != nil {
			var cb anthropicBlock
			cb.read(block)
			switch cb.typ {
			case "text":
				b.typ = "text"
				b.text = st.appendBounded(b.text, cb.text)
			case "thinking":
				b.typ = "reasoning"
				b.text = st.appendBounded(b.text, cb.text)
			case "tool_use", "server_tool_use":
				b.typ, b.id, b.name = "tool_call", cb.id, cb.name
			}
		}
	case "content_block_delta":
		if b := st.block(index); b != nil {
			var d anthropicBlock
			d.read(delta)
			switch d.typ {
			case "text_delta", "thinking_delta", "input_json_delta":
				b.text = st.appendBounded(b.text, d.text)
			}
		}
	case "message_delta":
		var d anthropicBlock
		d.read(delta)
		st.setFinish(0, d.stopReason)
		anthropicUsage(usage, &st.resp)
	case "message_stop":
		st.done = true
	case "error":
		if !isNull(errVal) && st.err == nil {
			var e wireError
			e.read(errVal)
			st.err = e.err()
		}
	}
}

// block returns the content block i of the message, nil if out of bounds.
func (st *streamState) block(i int) *outBlock {
	if !st.capture || i < 0 || i >= maxStreamParts {
		return nil
	}
	for len(st.blocks) <= i {
		st.blocks = append(st.blocks, outBlock{})
	}
	return &st.blocks[i]
}
