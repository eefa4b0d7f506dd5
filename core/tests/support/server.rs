//! The PostgreSQL server the test command starts (tests/postgres/cluster.sh): a URL for a fresh
//! store on it. There is no skipping without one: a build with the server engine tests it.

/// A URL naming a fresh, empty store on the test server: a schema of its own, named after `what`.
pub fn fresh_url(what: &str) -> String {
    let url = std::env::var("JETSTATE_TEST_POSTGRES_URL").unwrap_or_default();
    assert!(
        !url.is_empty(),
        "JETSTATE_TEST_POSTGRES_URL names no server: run ./test.sh, which starts one, or \
         eval \"$(tests/postgres/cluster.sh start)\""
    );
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}schema={what}_{}", jetstate::uuid::Uuid::new_v4().simple())
}
