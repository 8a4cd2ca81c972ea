//! wiremock mounts that more than one module needs.

use wiremock::{MockBuilder, MockServer, ResponseTemplate};

/// The requests `route` matches are answered `first` the first `times` times, then `then`.
/// (`route` builds the matcher twice: once for each mock.)
pub async fn first_then(
    server: &MockServer,
    route: impl Fn() -> MockBuilder,
    first: ResponseTemplate,
    times: u64,
    then: ResponseTemplate,
) {
    if times > 0 {
        route()
            .respond_with(first)
            .up_to_n_times(times)
            .with_priority(1)
            .mount(server)
            .await;
    }
    route()
        .respond_with(then)
        .with_priority(2)
        .mount(server)
        .await;
}

/// `GET path`.
pub fn get(path: impl Into<String>) -> impl Fn() -> MockBuilder {
    let path = path.into();
    move || {
        wiremock::Mock::given(wiremock::matchers::method("GET"))
            .and(wiremock::matchers::path(path.clone()))
    }
}
