//! W3C Trace Context on every request (feature `opentelemetry`): the `traceparent` and
//! `tracestate` of the current span (the attempt's `http_request` span, so the service's span is
//! its child), as `tracing-opentelemetry` knows it. Without an OpenTelemetry layer on the
//! subscriber, the span has no context and nothing is added.
//!
//! Written here rather than through a global propagator: the header is the W3C one whatever the
//! application configured, and the crate needs only the OpenTelemetry API, not its SDK.

use opentelemetry::trace::{TraceContextExt as _, TraceFlags};
use reqwest::RequestBuilder;
use reqwest::header::HeaderValue;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// `rb` with the current span's `traceparent` (and `tracestate`, when it has one).
pub(super) fn inject(rb: RequestBuilder) -> RequestBuilder {
    let cx = tracing::Span::current().context();
    let span = cx.span();
    let sc = span.span_context();
    if !sc.is_valid() {
        return rb;
    }
    let flags = sc.trace_flags() & TraceFlags::SAMPLED;
    let parent = format!(
        "00-{}-{}-{:02x}",
        sc.trace_id(),
        sc.span_id(),
        flags.to_u8()
    );
    let mut rb = match HeaderValue::from_str(&parent) {
        Ok(v) => rb.header("traceparent", v),
        Err(_) => return rb,
    };
    let state = sc.trace_state().header();
    if !state.is_empty()
        && let Ok(v) = HeaderValue::from_str(&state)
    {
        rb = rb.header("tracestate", v);
    }
    rb
}
