// Package genai traces LLM calls with the OpenTelemetry GenAI semantic
// conventions, tied to the CRS action they serve, as the CRS Telemetry
// Specification requires.
//
// [NewTransport] instruments any Go HTTP client: openai-go and
// anthropic-sdk-go (through option.WithHTTPClient), LiteLLM-style proxies,
// raw net/http. It recognises the OpenAI-compatible chat completions,
// completions and embeddings APIs and the Anthropic messages API, plain or
// streamed, and passes every other request through untouched:
//
//	client := &http.Client{Transport: genai.NewTransport(http.DefaultTransport)}
//
// [Start] and [Call.End] trace a call by hand, for clients the transport
// does not know. An [Option] configures both; a [TransportOption], such as
// [WithProviderName] or [WithPropagation], only the transport.
//
// Each call is a span of kind CLIENT named "{gen_ai.operation.name}
// {gen_ai.request.model}", with the request's parameters, the response's
// id, model, finish reasons and token usage (ints), and error.type on
// failure. Inside a CRS action (crstel.Action) the span carries the
// action's category, name and task metadata, and crs.action.gen_ai.id is
// set to the response id on the call's span and on the action's span. The
// metrics gen_ai.client.operation.duration and gen_ai.client.token.usage
// are recorded through the global MeterProvider, which crstel.Setup exports.
//
// Message content is not recorded unless asked for, with [WithCapture] or
// OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT (see [ParseCapture]);
// it is then size-bounded and goes through [WithRedact]'s function first.
// API keys and authorization headers are never recorded.
package genai
