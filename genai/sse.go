package genai

import "bytes"

// sseHandler receives the events of a server-sent event stream.
type sseHandler interface {
	// event is called with the event's type (its "event:" field, often
	// empty) and data; both are valid until it returns.
	event(name, data []byte)
}

// maxEventName bounds the event type kept; longer ones are cut.
const maxEventName = 256

// sseParser splits a text/event-stream (the WHATWG server-sent events
// format) into events as its bytes are fed, in pieces of any size. It
// keeps at most limit bytes of a line and of an event's data: an event
// with more is dropped whole. Lines end with LF, CRLF or CR.
type sseParser struct {
	limit int

	line     []byte // the start of a line not yet ended
	lineOver bool   // that line went over the limit
	cr       bool   // the last byte fed was a CR: an LF next belongs to it

	name     []byte // event type of the event being read
	data     []byte // data of the event being read
	hasData  bool   // it has a data field
	dataOver bool   // its data went over the limit
}

func newSSEParser(limit int) sseParser {
	return sseParser{limit: limit}
}

// feed parses b, calling h for each event b completes.
func (p *sseParser) feed(b []byte, h sseHandler) {
	for len(b) > 0 {
		if p.cr {
			p.cr = false
			if b[0] == '\n' {
				b = b[1:]
				continue
			}
		}
		i := bytes.IndexByte(b, '\n')
		scan := b
		if i >= 0 {
			scan = b[:i]
		}
		if j := bytes.IndexByte(scan, '\r'); j >= 0 {
			i = j
		}
		if i < 0 { // no line end: keep the start of the line for the next feed
			p.keep(b)
			return
		}
		line, over := b[:i], i > p.limit
		if len(p.line) > 0 || p.lineOver {
			p.keep(line)
			line, over = p.line, p.lineOver
		}
		if over {
			p.dataOver, p.hasData = true, true // a line too long: drop its event
		} else {
			p.handleLine(line, h)
		}
		p.line, p.lineOver = p.line[:0], false
		if b[i] == '\r' {
			if i+1 < len(b) {
				if b[i+1] == '\n' {
					i++
				}
			} else {
				p.cr = true
			}
		}
		b = b[i+1:]
	}
}

// keep adds b to the line being read, up to the limit.
func (p *sseParser) keep(b []byte) {
	if p.lineOver {
		return
	}
	if len(p.line)+len(b) > p.limit {
		p.lineOver = true
		p.line = nil
		return
	}
	p.line = append(p.line, b...)
}

func (p *sseParser) handleLine(line []byte, h sseHandler) {
	if len(line) == 0 {
		p.dispatch(h)
		return
	}
	if line[0] == ':' { // a comment, such as a keep-alive
		return
	}
	field, value := line, []byte(nil)
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		field, value = line[:i], line[i+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	switch string(field) {
	case "data":
		if p.dataOver {
			return
		}
		extra := len(value)
		if p.hasData {
			extra++
		}
		if len(p.data)+extra > p.limit {
			p.dataOver, p.data = true, nil
			return
		}
		if p.hasData {
			p.data = append(p.data, '\n')
		}
		p.data = append(p.data, value...)
		p.hasData = true
	case "event":
		p.name = append(p.name[:0], value[:min(len(value), maxEventName)]...)
	}
}

// dispatch hands the event read to h, and starts the next.
func (p *sseParser) dispatch(h sseHandler) {
	if p.hasData && !p.dataOver {
		h.event(p.name, p.data)
	}
	p.name, p.data = p.name[:0], p.data[:0]
	p.hasData, p.dataOver = false, false
}

// flush ends the stream: a last line and event without their blank line
// are taken as if they had it.
func (p *sseParser) flush(h sseHandler) {
	if len(p.line) > 0 && !p.lineOver {
		p.handleLine(p.line, h)
	}
	p.line, p.lineOver, p.cr = p.line[:0], false, false
	p.dispatch(h)
}
