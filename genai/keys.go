package genai

import semconv "go.opentelemetry.io/otel/semconv/v1.41.0"

// Attribute keys of the OpenTelemetry GenAI semantic conventions, from
// semconv v1.41.0: the Go semconv packages dropped the gen_ai.* keys from
// v1.42.0 on, when the conventions moved to a repository of their own.
const (
	OperationNameKey           = semconv.GenAIOperationNameKey
	ProviderNameKey            = semconv.GenAIProviderNameKey
	ConversationIDKey          = semconv.GenAIConversationIDKey
	OutputTypeKey              = semconv.GenAIOutputTypeKey
	RequestModelKey            = semconv.GenAIRequestModelKey
	RequestMaxTokensKey        = semconv.GenAIRequestMaxTokensKey
	RequestTemperatureKey      = semconv.GenAIRequestTemperatureKey
	RequestTopPKey             = semconv.GenAIRequestTopPKey
	RequestTopKKey             = semconv.GenAIRequestTopKKey
	RequestFrequencyPenaltyKey = semconv.GenAIRequestFrequencyPenaltyKey
	RequestPresencePenaltyKey  = semconv.GenAIRequestPresencePenaltyKey
	RequestStopSequencesKey    = semconv.GenAIRequestStopSequencesKey
	RequestSeedKey             = semconv.GenAIRequestSeedKey
	RequestChoiceCountKey      = semconv.GenAIRequestChoiceCountKey
	RequestStreamKey           = semconv.GenAIRequestStreamKey
	RequestEncodingFormatsKey  = semconv.GenAIRequestEncodingFormatsKey
	ResponseIDKey              = semconv.GenAIResponseIDKey
	ResponseModelKey           = semconv.GenAIResponseModelKey
	ResponseFinishReasonsKey   = semconv.GenAIResponseFinishReasonsKey
	// ResponseTimeToFirstChunkKey is the time, in seconds (a double), from
	// the request to the first chunk of a streamed response.
	ResponseTimeToFirstChunkKey      = semconv.GenAIResponseTimeToFirstChunkKey
	UsageInputTokensKey              = semconv.GenAIUsageInputTokensKey
	UsageOutputTokensKey             = semconv.GenAIUsageOutputTokensKey
	UsageCacheReadInputTokensKey     = semconv.GenAIUsageCacheReadInputTokensKey
	UsageCacheCreationInputTokensKey = semconv.GenAIUsageCacheCreationInputTokensKey
	UsageReasoningOutputTokensKey    = semconv.GenAIUsageReasoningOutputTokensKey
	EmbeddingsDimensionCountKey      = semconv.GenAIEmbeddingsDimensionCountKey
	TokenTypeKey                     = semconv.GenAITokenTypeKey
	// InputMessagesKey, OutputMessagesKey and SystemInstructionsKey hold
	// message content as JSON; recorded only when content capture is on.
	InputMessagesKey      = semconv.GenAIInputMessagesKey
	OutputMessagesKey     = semconv.GenAIOutputMessagesKey
	SystemInstructionsKey = semconv.GenAISystemInstructionsKey

	// Keys of the general conventions that LLM spans carry.
	ServerAddressKey = semconv.ServerAddressKey
	ServerPortKey    = semconv.ServerPortKey
	ErrorTypeKey     = semconv.ErrorTypeKey
)

// Values of gen_ai.operation.name. semconv v1.41.0 gives the values as
// variables (genaiconv.OperationNameChat, ...), not constants; a test checks
// these against them, as it does the other values and the metric names.
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

// Metric names of the GenAI conventions: gen_ai.client.token.usage counts
// tokens (unit "{token}"), gen_ai.client.operation.duration is in seconds
// (unit "s"). The instruments take their names, units and descriptions
// from semconv v1.41.0's genaiconv package, which gives them as methods;
// a test checks these constants against it.
const (
	MetricTokenUsage        = "gen_ai.client.token.usage"
	MetricOperationDuration = "gen_ai.client.operation.duration"
)

// Bucket boundaries the conventions give for the metrics: TokenUsageBuckets
// in tokens, DurationBuckets in seconds.
var (
	TokenUsageBuckets = []float64{1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864}
	DurationBuckets   = []float64{0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92}
)
