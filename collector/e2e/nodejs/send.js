// A CRS component in Node.js, with the official OpenTelemetry JS SDK and no
// crstel: the spans a team writes by hand, good and bad, exported over OTLP
// gRPC to OTEL_EXPORTER_OTLP_ENDPOINT (crstelcol, in the end-to-end test).
//
// Each span's name says what it is; the Go test (e2e_test.go) checks what
// crs_conformance made of each.
'use strict';

const { context, trace } = require('@opentelemetry/api');
const { BatchSpanProcessor, TracerProvider } = require('@opentelemetry/sdk-trace');
const { emptyResource, resourceFromAttributes } = require('@opentelemetry/resources');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-grpc');

const endpoint = process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
if (!endpoint) {
  console.error('send.js: set OTEL_EXPORTER_OTLP_ENDPOINT, such as http://127.0.0.1:4317');
  process.exit(2);
}

function provider(resource) {
  return new TracerProvider({
    resource,
    spanProcessors: [new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url: endpoint }) })],
  });
}

// The task metadata of the TaskDetail, on every span of the task.
const task = { 'round.id': 'round-1', 'task.id': 'task-1', 'team.id': 'team-1' };

// action starts a span with the mandatory attributes and the task metadata,
// as the specification's log_action does, with attrs over them.
function action(tracer, name, attrs, parent) {
  const ctx = parent ? trace.setSpan(context.active(), parent) : context.active();
  return tracer.startSpan(name, {
    attributes: {
      'crs.action.category': 'patch_generation',
      'crs.action.name': 'generate_patch',
      ...task,
      ...attrs,
    },
  }, ctx);
}

function child(tracer, name, attrs, parent) {
  return tracer.startSpan(name, { attributes: attrs }, trace.setSpan(context.active(), parent));
}

async function main() {
  const agent = provider(resourceFromAttributes({ 'service.name': 'node-agent' }));
  const tracer = agent.getTracer('crs-node-component');

  // A conforming action, with what other libraries make inside it: an
  // OpenLIT LLM span (gen_ai.* only), and an HTTP client span with an LLM
  // span inside.
  const root = action(tracer, 'generate_patch', { 'crs.action.code.file': 'vuln_module.c', 'crs.action.effort.weight': 4 });
  const llm = child(tracer, 'chat gpt-4o-mini', {
    'gen_ai.system': 'openai',
    'gen_ai.operation.name': 'chat',
    'gen_ai.request.model': 'gpt-4o-mini',
    'gen_ai.usage.input_tokens': 812,
    'gen_ai.usage.output_tokens': 230,
  }, root);
  llm.end();
  const http = child(tracer, 'POST', { 'http.request.method': 'POST', 'url.full': 'http://127.0.0.1:8080/v1/chat' }, root);
  const inner = child(tracer, 'chat inside POST', { 'gen_ai.request.model': 'gpt-4o-mini' }, http);
  inner.end();
  http.end();
  root.end();

  // The mistakes teams made, one span each.
  action(tracer, 'misspelled_key', { 'crs.action.code.files': 'vuln_module.c' }).end();
  action(tracer, 'int_as_string', { 'crs.action.effort.weight': '8' }).end();
  action(tracer, 'unknown_category', { 'crs.action.category': 'telemetry_init' }).end();
  action(tracer, 'invalid_name', { 'crs.action.name': 'generate patch task-42' }).end();
  // Task metadata on the child of an action but not on the action: the
  // action is missing it, and has no ancestor to inherit it from.
  const bare = tracer.startSpan('missing_metadata', {
    attributes: { 'crs.action.category': 'scoring_submission', 'crs.action.name': 'submit_results', 'round.id': 'round-1' },
  });
  action(tracer, 'upload', { 'crs.action.category': 'scoring_submission', 'crs.action.name': 'upload_results' }, bare).end();
  bare.end();

  // A second provider whose resource has no service.name at all.
  const anonymous = provider(emptyResource());
  action(anonymous.getTracer('crs-node-component'), 'missing_service_name', {}).end();

  await Promise.all([agent.shutdown(), anonymous.shutdown()]);
  console.log('send.js: sent 11 spans to ' + endpoint);
}

main().catch((err) => {
  console.error('send.js:', err);
  process.exit(1);
});
