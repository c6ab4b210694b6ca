// A CRS component in Node.js without crstel: an LLM agent whose actions
// send span lifecycle records as OpenTelemetry Python contrib's
// partial-span processor writes them (the OTLP log records span.state =
// heartbeat and log.body.type = json/v1, the span as OTLP JSON in the body,
// ids in hex without their leading zeros), with the official OpenTelemetry
// JS SDK and its OTLP gRPC log exporter. After three heartbeats it dies by
// SIGKILL, as an OOM-killed pod does: no ended record, no span.
//
// It prints "running TRACE SPAN" with the ids in full; the Go test
// (library_test.go) waits for crstelcol's crs_watchdog to report the
// action lost.
'use strict';

const { LoggerProvider, BatchLogRecordProcessor } = require('@opentelemetry/sdk-logs');
const { OTLPLogExporter } = require('@opentelemetry/exporter-logs-otlp-grpc');
const { resourceFromAttributes } = require('@opentelemetry/resources');

const endpoint = process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
if (!endpoint) {
  console.error('heartbeat.js: set OTEL_EXPORTER_OTLP_ENDPOINT, such as http://127.0.0.1:4317');
  process.exit(2);
}

const resource = {
  'service.name': 'py-agent',
  'service.instance.id': 'py-agent-' + process.pid,
};
const provider = new LoggerProvider({
  resource: resourceFromAttributes(resource),
  processors: [new BatchLogRecordProcessor({ exporter: new OTLPLogExporter({ url: endpoint }), scheduledDelayMillis: 100 })],
});
const logger = provider.getLogger('opentelemetry.processor.partial_span');

// Ids with leading zeros, which the Python processor drops.
const traceId = '000000000000000000000000000a11ce';
const spanId = '0000000000000b0b';
const strip = (hex) => hex.replace(/^0+/, '') || '0';
const start = BigInt(Date.now() - 10_000) * 1_000_000n;

function attr(key, value) {
  return { key, value: { stringValue: value } };
}

// body is the span as OTLP JSON TracesData, the attributes so far.
function body() {
  return JSON.stringify({
    resourceSpans: [{
      resource: { attributes: Object.entries(resource).map(([k, v]) => attr(k, v)) },
      scopeSpans: [{
        scope: { name: 'crs.agent' },
        spans: [{
          traceId: strip(traceId),
          spanId: strip(spanId),
          name: 'generate_patch',
          kind: 'SPAN_KIND_INTERNAL',
          startTimeUnixNano: start.toString(),
          attributes: [
            attr('crs.action.category', 'patch_generation'),
            attr('crs.action.name', 'generate_patch'),
            attr('round.id', 'round-1'),
            attr('task.id', 'task-9'),
            attr('team.id', 'team-1'),
          ],
          status: { code: 'STATUS_CODE_UNSET' },
        }],
      }],
    }],
  });
}

async function main() {
  console.log(`running ${traceId} ${spanId}`);
  for (let i = 0; i < 3; i++) {
    logger.emit({
      body: body(),
      attributes: { 'span.state': 'heartbeat', 'log.body.type': 'json/v1' },
    });
    await provider.forceFlush();
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  process.kill(process.pid, 'SIGKILL');
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
