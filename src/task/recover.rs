//! Recovering a submission whose answer was lost: the task is found again by the name it was
//! submitted under, and waited for by id, without running the query a second time.
//!
//! A [`TaskHandle`](super::TaskHandle) that stores its result gives every submission a name: the
//! caller's own ([`SqlParameters::name`]), or else a tag, `tiledb-cloud-tasks:` and 16 random hex
//! digits. That tag is what the task is called in the task list and on the console. When the
//! answer to the POST is lost (the connection breaks after the request was sent, a gateway answers
//! 502 or 504 without naming a task, the attempt times out), the task list is searched for that
//! name (`GET /v1/tasks?search=…` in the namespace, around the time of the submission), on the
//! poll schedule, for at most [`LOST_ANSWER_SEARCH`] and never past the handle's deadline. Exactly
//! one task of that name (and of the same SQL text, when the service reports it) is followed; none,
//! or several (a name the caller reuses), end the wait with
//! [`Error::OutcomeUnknown`](crate::Error::OutcomeUnknown), which carries the name to look for.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use crate::api::TasksApi;
use crate::error::{Error, OutcomeUnknownError, Result};
use crate::model::{SqlParameters, TasksQuery};
use crate::policy::{Clock, PollPolicy};
use crate::task_id::TaskId;

/// How long the task list is searched for a submission whose answer was lost (bounded by the
/// handle's deadline as well).
pub(crate) const LOST_ANSWER_SEARCH: Duration = Duration::from_secs(60);

/// How far the service's clock may be off the client's when the search window is set.
const CLOCK_SKEW: TimeDelta = TimeDelta::minutes(10);

/// The prefix of the name the SDK gives a submission the caller did not name.
pub(crate) const TAG_PREFIX: &str = "tiledb-cloud-tasks:";

/// What the submission was sent as, to find it again.
pub(super) struct Sent {
    pub(super) namespace: String,
    pub(super) name: String,
    pub(super) query: Option<String>,
    pub(super) at: DateTime<Utc>,
}

impl Sent {
    /// Names the submission (the caller's name is kept) and notes what is needed to find it.
    pub(super) fn tag(namespace: &str, params: &mut SqlParameters) -> Sent {
        let name = params
            .name
            .get_or_insert_with(|| format!("{TAG_PREFIX}{:016x}", fastrand::u64(..)))
            .clone();
        Sent {
            namespace: namespace.to_owned(),
            name,
            query: params.query.clone(),
            at: Utc::now(),
        }
    }
}

/// Searches the task list for the submission `sent` whose answer was lost with `error`, until
/// `window` has passed on `clock`; its id, or [`Error::OutcomeUnknown`].
pub(super) async fn find(
    api: &TasksApi,
    clock: &Arc<dyn Clock>,
    policy: &PollPolicy,
    window: Duration,
    sent: Sent,
    error: Error,
) -> Result<TaskId> {
    tracing::warn!(
        namespace = %sent.namespace,
        name = %sent.name,
        error = %error.report(),
        "the submission's answer was lost; searching the task list for it instead of submitting again"
    );
    let started = clock.now();
    let mut schedule = policy.schedule();
    let mut searches = 0;
    loop {
        searches += 1;
        let candidates = match search(api, &sent).await {
            Ok(ids) => ids,
            Err(e) => {
                tracing::debug!(error = %e.report(), "searching for the lost submission failed");
                Vec::new()
            }
        };
        if let [id] = candidates.as_slice() {
            tracing::info!(task_id = %id, searches, "found the task of the lost submission");
            return Ok(id.clone());
        }
        let searched = clock.now().saturating_duration_since(started);
        let left = window.saturating_sub(searched);
        if candidates.len() > 1 || left.is_zero() {
            return Err(Error::OutcomeUnknown(Box::new(OutcomeUnknownError {
                namespace: sent.namespace,
                name: sent.name,
                submitted_at: sent.at,
                searched,
                searches,
                candidates: candidates.len(),
                source: error,
            })));
        }
        clock.sleep(schedule.next(None).min(left)).await;
    }
}

/// The ids of the tasks that can be this submission: its name exactly, its namespace, its SQL
/// text (when the service reports it), started around its time.
async fn search(api: &TasksApi, sent: &Sent) -> Result<Vec<TaskId>> {
    let query = TasksQuery::default()
        .namespace(sent.namespace.clone())
        .search(sent.name.clone())
        .start(sent.at - CLOCK_SKEW)
        .end(Utc::now() + CLOCK_SKEW)
        .per_page(100);
    let page = api.tasks_get(&query).await?;
    Ok(page
        .array_tasks
        .into_iter()
        .filter(|t| t.name.as_deref() == Some(sent.name.as_str()))
        .filter(|t| t.namespace.as_deref().is_none_or(|n| n == sent.namespace))
        .filter(|t| t.sql_query.is_none() || sent.query.is_none() || t.sql_query == sent.query)
        .filter_map(|t| t.id.map(TaskId::from))
        .collect())
}
