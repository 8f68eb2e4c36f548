//! What one GraphQL request may cost, checked before anything runs and enforced while it
//! runs. Every field that reaches a store weighs what it costs (a PostgreSQL query
//! [`POSTGRES_QUERY`], a ClickHouse query [`CLICKHOUSE_QUERY`]), pages multiply their items'
//! complexity by `first`, and `usage` adds its windows; a request above [`MAX_COMPLEXITY`] or
//! deeper than [`MAX_DEPTH`] is refused. One field name may occur at most [`MAX_REPEATS`]
//! times in a selection set, aliases included ([`repeats`]). While a request runs, at most
//! [`MAX_CONCURRENT_FIELDS`] of its top-level fields (each of which reaches a store) run at
//! once. Refusals carry `BAD_USER_INPUT`, as do parse and validation errors and arguments that
//! do not parse.

pub mod repeats;

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextResolve, NextValidation,
    ResolveInfo,
};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{ServerError, ServerResult, ValidationResult, Value, Variables};
use chrono::{DateTime, Utc};
use tally_meter::usage;
use tokio::sync::Semaphore;

use crate::error::ErrorCode;
use crate::schema::MAX_PAGE;
use crate::schema::usage::{USAGE_LIMITS, WindowValue};
use crate::telemetry::FieldSemaphoreClosed;

/// Complexity of a field that runs one PostgreSQL query.
pub const POSTGRES_QUERY: usize = 10;
/// Complexity of a field that runs one ClickHouse query.
pub const CLICKHOUSE_QUERY: usize = 100;
/// Windows of `usage` that weigh one unit of complexity.
pub const USAGE_WINDOWS_PER_UNIT: u64 = 20;
/// Largest query complexity accepted: about 20 ClickHouse queries' worth.
pub const MAX_COMPLEXITY: usize = 2_000;
/// Deepest query accepted.
pub const MAX_DEPTH: usize = 8;
/// Most occurrences of one field name in one selection set, aliases included.
pub const MAX_REPEATS: usize = 10;
/// Most top-level fields of one request that run at once.
pub const MAX_CONCURRENT_FIELDS: usize = 4;

/// The complexity of a page of `first` items (clamped to what the resolver accepts; it
/// refuses the rest with its own message): each item weighs what its selection weighs.
pub fn page(first: usize, child_complexity: usize) -> usize {
    first.clamp(1, MAX_PAGE).saturating_mul(child_complexity)
}

/// The complexity of `usage`: the meter's lookup, up to two ClickHouse queries (sums, and
/// distinct values of UNIQUE_COUNT meters), the points' selection, and one unit per
/// [`USAGE_WINDOWS_PER_UNIT`] windows of the range. A range the resolver will refuse (empty,
/// reversed, over the window cap) weighs only the rest, so that the refusal says why.
pub fn usage(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    window: WindowValue,
    child_complexity: usize,
) -> usize {
    // Days and months counted in UTC: a time zone moves their count by one at most.
    let windows = usage::count_windows(from, to, window.into(), usage::Tz::UTC)
        .ok()
        .filter(|windows| *windows <= USAGE_LIMITS.max_windows)
        .unwrap_or(0);
    let window_units = usize::try_from(windows.div_ceil(USAGE_WINDOWS_PER_UNIT)).unwrap_or(0);
    (POSTGRES_QUERY + 2 * CLICKHOUSE_QUERY)
        .saturating_add(child_complexity)
        .saturating_add(window_units)
}

/// The schema extension that bounds each request's cost; see the module's documentation.
pub struct CostLimits;

impl ExtensionFactory for CostLimits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(RequestCost {
            running_fields: Semaphore::new(MAX_CONCURRENT_FIELDS),
        })
    }
}

/// One request's share of [`CostLimits`]: extensions are created per request.
struct RequestCost {
    /// Permits of the top-level fields running now.
    running_fields: Semaphore,
}

#[async_graphql::async_trait::async_trait]
impl Extension for RequestCost {
    async fn parse_query(
        &self,
        context: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next
            .run(context, query, variables)
            .await
            .map_err(bad_user_input)?;
        repeats::check(&document, MAX_REPEATS).map_err(|refusal| match refusal {
            repeats::Refusal::Repeated { field, count, pos } => refused(
                format!(
                    "`{field}` is asked for {count} times in one selection set (aliases and \
                     fragments included); at most {MAX_REPEATS}: split the request"
                ),
                Some(pos),
            ),
            repeats::Refusal::TooNested { pos } => refused(
                format!(
                    "fragments are spread more than {} deep",
                    repeats::MAX_FRAGMENT_NESTING
                ),
                Some(pos),
            ),
        })?;
        Ok(document)
    }

    async fn validation(
        &self,
        context: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = next
            .run(context)
            .await
            .map_err(|errors| errors.into_iter().map(bad_user_input).collect::<Vec<_>>())?;
        if result.depth > MAX_DEPTH {
            return Err(vec![refused(
                format!(
                    "the query is nested {} deep; at most {MAX_DEPTH}",
                    result.depth
                ),
                None,
            )]);
        }
        if result.complexity > MAX_COMPLEXITY {
            return Err(vec![refused(
                format!(
                    "the query's complexity is {}, over the limit of {MAX_COMPLEXITY}: each \
                     PostgreSQL query weighs {POSTGRES_QUERY}, each ClickHouse query \
                     {CLICKHOUSE_QUERY}, and pages their items' fields times `first`; ask for \
                     fewer fields, smaller pages or shorter ranges, or split the request",
                    result.complexity
                ),
                None,
            )]);
        }
        Ok(result)
    }

    async fn resolve(
        &self,
        context: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        // Resolvers' own errors carry codes; those without one are arguments that did not
        // parse, such as `top: 99999999999` for a 32-bit count.
        let top_level = info.path_node.parent.is_none() && !info.is_for_introspection;
        if !top_level {
            return next.run(context, info).await.map_err(bad_user_input);
        }
        // The semaphore lives as long as the request and is never closed.
        let _permit = self.running_fields.acquire().await.map_err(|_| {
            FieldSemaphoreClosed.emit();
            let mut error = ServerError::new("internal error; it has been logged", None);
            error
                .extensions
                .get_or_insert_with(Default::default)
                .set("code", ErrorCode::Internal.as_str());
            error
        })?;
        next.run(context, info).await.map_err(bad_user_input)
    }
}

/// A refusal of the request as a whole, before anything ran.
fn refused(message: String, pos: Option<async_graphql::Pos>) -> ServerError {
    bad_user_input(ServerError::new(message, pos))
}

/// Gives an error without a code `BAD_USER_INPUT`: parse and validation errors, and
/// arguments that do not parse, are the client's to fix.
fn bad_user_input(mut error: ServerError) -> ServerError {
    let extensions = error.extensions.get_or_insert_with(Default::default);
    if extensions.get("code").is_none() {
        extensions.set("code", ErrorCode::BadUserInput.as_str());
    }
    error
}

#[cfg(test)]
mod tests;
