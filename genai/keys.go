package genai

import "go.opentelemetry.io/otel/attribute"

// Attribute keys of the OpenTelemetry GenAI semantic conventions. The Go
// semconv packages dropped the gen_ai.* keys from v1.42.0 on, when the
// conventions moved to a repository of their own, so this package owns
// them; a test checks them against semconv v1.41.0, the last with them.
const (
	OperationNameKey           = attribute.Key("gen_ai.operation.name")
	ProviderNameKey            = attribute.Key("gen_ai.provider.name")
	ConversationIDKey          = attribute.Key("gen_ai.conversation.id")
	OutputTypeKey              = attribute.Key("gen_ai.output.type")
	RequestModelKey            = attribute.Key("gen_ai.request.model")
	RequestMaxTokensKey        = attribute.Key("gen_ai.request.max_tokens")
	RequestTemperatureKey      = attribute.Key("gen_ai.request.temperature")
	RequestTopPKey             = attribute.Key("gen_ai.request.top_p")
	RequestTopKKey             = attribute.Key("gen_ai.request.top_k")
	RequestFrequencyPenaltyKey = attribute.Key("gen_ai.request.frequency_penalty")
	RequestPresencePenaltyKey  = attribute.Key("gen_ai.request.presence_penalty")
	RequestStopSequencesKey    = attribute.Key("gen_ai.request.stop_sequences")
	RequestSeedKey             = attribute.Key("gen_ai.request.seed")
	RequestChoiceCountKey      = attribute.Key("gen_ai.request.choice.count")
	RequestStreamKey           = attribute.Key("gen_ai.request.stream")
	RequestEncodingFormatsKey  = attribute.Key("gen_ai.request.encoding_formats")
	ResponseIDKey              = attribute.Key("gen_ai.response.id")
	ResponseModelKey           = attribute.Key("gen_ai.response.model")
	ResponseFinishReasonsKey   = attribute.Key("gen_ai.response.finish_reasons")
	// ResponseTimeToFirstChunkKey is the time, in seconds, from the request
	// to the first chunk of a streamed response.
	ResponseTimeToFirstChunkKey      = attribute.Key("gen_ai.response.time_to_first_chunk")
	UsageInputTokensKey              = attribute.Key("gen_ai.usage.input_tokens")
	UsageOutputTokensKey             = attribute.Key("gen_ai.usage.output_tokens")
	UsageCacheReadInputTokensKey     = attribute.Key("gen_ai.usage.cache_read.input_tokens")
	UsageCacheCreationInputTokensKey = attribute.Key("gen_ai.usage.cache_creation.input_tokens")
	UsageReasoningOutputTokensKey    = attribute.Key("gen_ai.usage.reasoning.output_tokens")
	EmbeddingsDimensionCountKey      = attribute.Key("gen_ai.embeddings.dimension.count")
	TokenTypeKey                     = attribute.Key("gen_ai.token.type")
	// InputMessagesKey, OutputMessagesKey and SystemInstructionsKey hold
	// message content as JSON; recorded only when content capture is on.
	InputMessagesKey      = attribute.Key("gen_ai.input.messages")
	OutputMessagesKey     = attribute.Key("gen_ai.output.messages")
	SystemInstructionsKey = attribute.Key("gen_ai.system_instructions")

	// Keys of the general conventions that LLM spans carry.
	ServerAddressKey = attribute.Key("server.address")
	ServerPortKey    = attribute.Key("server.port")
	ErrorTypeKey     = attribute.Key("error.type")
)

// Values of gen_ai.operation.name.
const (
	OperationChat            = "chat"
	OperationTextCompletion  = "text_completion"
	OperationEmbeddings      = "embeddings"
	OperationGenerateContent = "generate_content"
)

// Values of gen_ai.provider.name.
const (
	ProviderOpenAI           = "openai"
	ProviderAnthropic        = "anthropic"
	ProviderAzureAIOpenAI    = "azure.ai.openai"
	ProviderAzureAIInference = "azure.ai.inference"
	ProviderAWSBedrock       = "aws.bedrock"
	ProviderGCPGemini        = "gcp.gemini"
	ProviderGCPVertexAI      = "gcp.vertex_ai"
	ProviderGCPGenAI         = "gcp.gen_ai"
	ProviderCohere           = "cohere"
	ProviderDeepSeek         = "deepseek"
	ProviderGroq             = "groq"
	ProviderIBMWatsonxAI     = "ibm.watsonx.ai"
	ProviderMistralAI        = "mistral_ai"
	ProviderPerplexity       = "perplexity"
	ProviderXAI              = "x_ai"
)

// Values of gen_ai.token.type.
const (
	TokenTypeInput  = "input"
	TokenTypeOutput = "output"
)

// Metric names of the GenAI conventions.
const (
	MetricTokenUsage        = "gen_ai.client.token.usage"
	MetricOperationDuration = "gen_ai.client.operation.duration"
)

// Bucket boundaries the conventions give for the metrics.
var (
	TokenUsageBuckets = []float64{1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864}
	DurationBuckets   = []float64{0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92}
)
