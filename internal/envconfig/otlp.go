package envconfig

import (
	"cmp"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/crstel/crstel/crs"
)

// signal is the form of an OTLP variable: general, or for one signal.
type signal int

const (
	general signal = iota
	traces
	metrics
	logs
	signals // their number
)

// The OTLP variables of each form, indexed by signal.
var (
	endpointVars    = [signals]string{Endpoint, TracesEndpoint, MetricsEndpoint, LogsEndpoint}
	headersVars     = [signals]string{Headers, TracesHeaders, MetricsHeaders, LogsHeaders}
	timeoutVars     = [signals]string{Timeout, TracesTimeout, MetricsTimeout, LogsTimeout}
	compressionVars = [signals]string{Compression, TracesCompression, MetricsCompression, LogsCompression}
	certificateVars = [signals]string{Certificate, TracesCertificate, MetricsCertificate, LogsCertificate}
	clientCertVars  = [signals]string{ClientCertificate, TracesClientCertificate, MetricsClientCertificate, LogsClientCertificate}
	clientKeyVars   = [signals]string{ClientKey, TracesClientKey, MetricsClientKey, LogsClientKey}
	insecureVars    = [signals]string{Insecure, TracesInsecure, MetricsInsecure, LogsInsecure}
	protocolVars    = [signals]string{Protocol, TracesProtocol, MetricsProtocol, LogsProtocol}
)

// otlpForm holds the OTLP variables of one form, parsed.
type otlpForm struct {
	endpoint    string
	headers     map[string]string
	timeout     time.Duration
	compression string
	rootCAs     *x509.CertPool
	clientCert  *tls.Certificate
	insecure    *bool
	protocol    string
}

// reader is the state of Read: the Config, and what is resolved at the end.
type reader struct {
	c        Config
	set      map[string]bool // the variables set (not blank)
	forms    [signals]otlpForm
	certs    [signals][2]string // the client certificate and key files
	sampler  string
	resource []attribute.KeyValue
}

// otlpVars returns the OTLP variables of form s.
func otlpVars(s signal) []Var {
	f := func(r *reader) *otlpForm { return &r.forms[s] }
	return []Var{
		{Name: endpointVars[s], Want: "a URL, http://host:port for plain text or https://host:port for TLS", redact: true,
			parse: func(r *reader, v string) error {
				if err := CheckEndpoint(v); err != nil {
					return err
				}
				f(r).endpoint = v
				return nil
			}},
		{Name: headersVars[s], Want: "key=value pairs, values URL-encoded, such as Authorization=Basic%20<base64>", Secret: true,
			parse: func(r *reader, v string) error {
				h, err := ParseHeaders(v)
				if err != nil {
					return err
				}
				f(r).headers = h
				r.c.Secrets = append(r.c.Secrets, headerValues(v)...)
				return nil
			}},
		{Name: timeoutVars[s], Want: TimeoutRange.Want(), parse: func(r *reader, v string) error {
			n, err := TimeoutRange.Parse(v)
			f(r).timeout = TimeoutRange.Duration(n)
			return err
		}},
		{Name: compressionVars[s], Want: "gzip or none", parse: func(r *reader, v string) error {
			return oneOf(&f(r).compression, v, "gzip", "none")
		}},
		{Name: certificateVars[s], Want: "a PEM file of CA certificates", parse: func(r *reader, v string) error {
			b, err := readPEM(v)
			if err != nil {
				return err
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(b) {
				return fmt.Errorf("no PEM certificate in the file: want a PEM file of CA certificates")
			}
			f(r).rootCAs = pool
			return nil
		}},
		{Name: clientCertVars[s], Want: "a PEM file of the client's certificate, with " + clientKeyVars[s], parse: func(r *reader, v string) error {
			if _, err := readPEM(v); err != nil {
				return err
			}
			r.certs[s][0] = v
			return nil
		}},
		{Name: clientKeyVars[s], Want: "a PEM file of the client's private key, with " + clientCertVars[s], parse: func(r *reader, v string) error {
			if _, err := readPEM(v); err != nil {
				return err
			}
			r.certs[s][1] = v
			return nil
		}},
		{Name: insecureVars[s], Want: "true or false", parse: func(r *reader, v string) error {
			// The SDK takes "true" in any case, and anything else as false.
			switch {
			case strings.EqualFold(v, "true"):
				f(r).insecure = new(true)
			case strings.EqualFold(v, "false"):
				f(r).insecure = new(false)
			default:
				return fmt.Errorf(`want "true" or "false"`)
			}
			return nil
		}},
		{Name: protocolVars[s], Want: "grpc", parse: func(r *reader, v string) error {
			// The check is in resolve: it depends on the signals exported.
			f(r).protocol = v
			return nil
		}},
	}
}

// resolve makes the Config from what the variables said, and returns the
// problems of variables that contradict each other.
func (r *reader) resolve() []string {
	var errs []string
	bad := func(name, what string) { errs = append(errs, name+": "+what) }

	if r.resource != nil || r.c.ServiceName != "" {
		r.c.Resource = r.resource
		if r.c.ServiceName != "" {
			r.c.Resource = append(r.c.Resource, attribute.String(string(crs.ServiceNameKey), r.c.ServiceName))
		}
	}
	if r.set[TracesSamplerArg] && !strings.HasSuffix(r.sampler, "traceidratio") {
		bad(TracesSamplerArg, "the sampler takes no argument, and the SDK would ignore it: set "+TracesSampler+
			" to traceidratio or parentbased_traceidratio, or unset "+TracesSamplerArg)
	}

	// Client certificates come in pairs.
	for s := range signals {
		certSet, keySet := r.set[clientCertVars[s]], r.set[clientKeyVars[s]]
		switch {
		case certSet && !keySet:
			bad(clientCertVars[s], "set without "+clientKeyVars[s]+", and the SDK would ignore it: want both or neither")
		case keySet && !certSet:
			bad(clientKeyVars[s], "set without "+clientCertVars[s]+", and the SDK would ignore it: want both or neither")
		case r.certs[s][0] != "" && r.certs[s][1] != "":
			c, err := tls.LoadX509KeyPair(r.certs[s][0], r.certs[s][1])
			if err != nil {
				cv, _ := LookupVar(clientCertVars[s])
				kv, _ := LookupVar(clientKeyVars[s])
				errs = append(errs, fmt.Sprintf("%s with %s: %v: want a PEM certificate and its private key",
					cv.show(r.certs[s][0]), kv.show(r.certs[s][1]), err))
				continue
			}
			r.forms[s].clientCert = &c
		}
	}

	// Each signal exported over OTLP must be exported over gRPC; the SDK
	// ignores the protocol, or takes it for another exporter.
	exported := [signals]bool{
		traces:  r.c.TracesExporter != "none" && r.c.TracesExporter != "console",
		metrics: r.c.MetricsExporter != "none",
		logs:    r.c.LogsExporter != "none",
	}
	reported := map[string]bool{}
	for s := traces; s < signals; s++ {
		f := s
		if !r.set[protocolVars[f]] {
			f = general
		}
		name := protocolVars[f]
		if !exported[s] || !r.set[name] || reported[name] {
			continue
		}
		if p := r.forms[f].protocol; p != "grpc" {
			reported[name] = true
			v, _ := LookupVar(name)
			errs = append(errs, v.problem(p, `crstel exports OTLP over gRPC only: set it to "grpc" or unset it`))
		}
	}

	r.c.Traces, errs = r.otlp(traces, errs)
	r.c.Metrics, errs = r.otlp(metrics, errs)
	r.c.Logs, errs = r.otlp(logs, errs)
	return errs
}

// otlp resolves the exporter settings of signal s, and adds the
// contradictions it finds to errs.
func (r *reader) otlp(s signal, errs []string) (OTLP, []string) {
	// The forms to read, the first found first: the signal's, the general
	// one, and for metrics and logs whose endpoint falls back to the
	// spans', the traces one.
	forms := []signal{s, general}
	if s != traces && r.forms[s].endpoint == "" && r.forms[general].endpoint == "" {
		forms = append(forms, traces)
	}
	var o OTLP
	var insecure *bool
	var insecureVar, certVar string
	var rootCAs *x509.CertPool
	var clientCert *tls.Certificate
	for _, f := range forms {
		form := &r.forms[f]
		if o.Endpoint == "" && form.endpoint != "" {
			o.Endpoint, o.EndpointVar = form.endpoint, endpointVars[f]
		}
		if o.Headers == nil {
			o.Headers = form.headers
		}
		if o.Timeout == 0 {
			o.Timeout = form.timeout
		}
		if o.Compression == "" {
			o.Compression = form.compression
		}
		if insecure == nil && form.insecure != nil {
			insecure, insecureVar = form.insecure, insecureVars[f]
		}
		if rootCAs == nil && form.rootCAs != nil {
			rootCAs, certVar = form.rootCAs, certificateVars[f]
		}
		if clientCert == nil && form.clientCert != nil {
			clientCert = form.clientCert
			certVar = cmp.Or(certVar, clientCertVars[f])
		}
	}
	if rootCAs != nil || clientCert != nil {
		o.TLS = &tls.Config{RootCAs: rootCAs, MinVersion: tls.VersionTLS12}
		if clientCert != nil {
			o.TLS.Certificates = []tls.Certificate{*clientCert}
		}
	}
	if insecure != nil {
		o.Insecure = *insecure
	}
	if o.Endpoint == "" {
		return o, errs
	}
	// The endpoint's scheme decides between TLS and plain text, as the
	// specification says. The SDK's exporters disagree on which wins when
	// INSECURE or a certificate says otherwise, so that is an error.
	plain := strings.HasPrefix(strings.ToLower(o.Endpoint), "http://")
	ev, _ := LookupVar(o.EndpointVar)
	if insecure != nil && *insecure != plain {
		errs = append(errs, fmt.Sprintf("%s=%q contradicts %s: the endpoint's scheme decides between TLS (https://) and plain text (http://); unset %s or make them agree",
			insecureVar, strconv.FormatBool(*insecure), ev.show(o.Endpoint), insecureVar))
	}
	if plain && o.TLS != nil {
		errs = append(errs, fmt.Sprintf("%s is set, but %s is plain text: use https://, or unset %s", certVar, ev.show(o.Endpoint), certVar))
		o.TLS = nil
	}
	o.Insecure = plain
	return o, errs
}

// CheckEndpoint checks an OTLP/gRPC endpoint URL. Its error never holds
// the URL, which may hold credentials.
func CheckEndpoint(v string) error {
	host := v
	if i := strings.Index(v, "://"); i >= 0 {
		host = v[i+3:]
	}
	want := fmt.Sprintf("want a URL: http://%s for plain text, https://%s for TLS", RedactEndpoint(host), RedactEndpoint(host))
	u, err := url.Parse(v)
	switch {
	case err != nil || !strings.Contains(v, "://"):
		// The exporter silently falls back to localhost:4317 when the
		// value is not a URL, such as 127.0.0.1:4317.
		return fmt.Errorf("%s", want)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("scheme %q: %s", u.Scheme, want)
	case u.User != nil:
		return fmt.Errorf("credentials in the URL are not sent: pass them in %s (or WithBasicAuth)", Headers)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(v, "#"):
		return fmt.Errorf("a query or fragment is not sent: want scheme://host:port")
	case u.Hostname() == "":
		return fmt.Errorf("no host: %s", want)
	case u.Path != "" && u.Path != "/":
		return fmt.Errorf("a path is not used by OTLP/gRPC: want scheme://host:port")
	}
	if p := u.Port(); p != "" || strings.HasSuffix(u.Host, ":") {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("port %q: want a port from 1 to 65535", p)
		}
	}
	return nil
}

// RedactEndpoint returns endpoint without user info, query or fragment,
// which may hold credentials.
func RedactEndpoint(endpoint string) string {
	scheme, rest := "", endpoint
	if i := strings.Index(endpoint, "://"); i >= 0 {
		scheme, rest = endpoint[:i+3], endpoint[i+3:]
	}
	// The user info ends at the last '@', which a password may hold; a
	// query or fragment cut first could leave part of it.
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		rest = rest[i+1:]
	}
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		rest = rest[:i]
	}
	return scheme + rest
}
