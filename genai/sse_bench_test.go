package genai

import "testing"

// BenchmarkSSEChunk measures the parsing of one OpenAI chunk alone.
func BenchmarkSSEChunk(b *testing.B) {
	chunk := []byte(`data: {"id":"chatcmpl-stream1","object":"chat.completion.chunk","created":1741569952,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_06737a9306","choices":[{"index":0,"delta":{"content":" patch"},"logprobs":null,"finish_reason":null}],"usage":null}` + "\n\n")
	cfg := newConfig([]Option{WithCapture(CaptureNone)})
	st := newStreamState(formatOpenAI, nil, &cfg)
	b.SetBytes(int64(len(chunk)))
	b.ReportAllocs()
	for b.Loop() {
		st.parser.feed(chunk, st)
	}
}
