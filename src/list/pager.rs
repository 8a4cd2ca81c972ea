//! When a listing goes on, ends, or stops because the service is leading it on: the rules, page by
//! page, kept apart from fetching so that they can be read (and tested) as a whole. The module
//! docs of [`list`](super) say the same in prose, for users.

use std::collections::{HashSet, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};

use crate::error::Error;
use crate::model::{ArrayTask, ArrayTaskData};

/// How many pages in a row may bring no task the stream has not yielded before it stops.
pub const STALE_PAGES_LIMIT: u32 = 3;

/// How far past the first answer's `total_pages` a listing may go: 2 pages, or a tenth of that
/// total when it is larger. The pinned window fixes which tasks exist, so the total can only grow
/// by tasks recorded late.
pub fn total_pages_bound(first_total: u64) -> u64 {
    first_total.saturating_add((first_total / 10).max(2))
}

/// What to do after a page.
#[derive(Debug)]
pub(super) enum Step {
    /// Yield these tasks (possibly none), then fetch `next`; `known_last` is the last page the
    /// answers give (to prefetch up to), if any.
    Continue {
        tasks: Vec<ArrayTask>,
        next: u64,
        known_last: Option<u64>,
    },
    /// Yield these tasks (possibly none), and end.
    End(Vec<ArrayTask>),
    /// Stop with a protocol error: the listing can be resumed at `resume_page`.
    Stop { resume_page: u64, error: Error },
}

/// The state the rules need between pages.
pub(super) struct Pager {
    /// `per_page` as asked, when the service's answer does not say.
    asked_per_page: Option<u64>,
    /// The first credible `total_pages`, and the bound it sets.
    first_total: Option<(u64, u64)>,
    seen: Seen<String>,
    /// Fingerprints of tasks without an id, to tell whether a page brought anything new.
    anonymous: Seen<u64>,
    /// The signature of the previous page (its tasks' ids or fingerprints, in order).
    previous: Option<u64>,
    /// Pages in a row that brought nothing new, and the first of them.
    stale: Option<(u64, u32)>,
}

impl Pager {
    pub(super) fn new(asked_per_page: Option<u64>, dedup_window: usize) -> Pager {
        Pager {
            asked_per_page,
            first_total: None,
            seen: Seen::new(dedup_window),
            anonymous: Seen::new(dedup_window),
            previous: None,
            stale: None,
        }
    }

    /// The last page prefetching may reach: the bound of the first total, when known.
    pub(super) fn bound(&self) -> Option<u64> {
        self.first_total.map(|(_, b)| b)
    }

    /// Applies the rules to `data`, the answer for page `page`.
    pub(super) fn page(&mut self, page: u64, data: ArrayTaskData) -> Step {
        let meta = data.pagination_metadata.unwrap_or_default();
        let tasks = data.array_tasks;
        if tasks.is_empty() {
            return Step::End(Vec::new());
        }
        let stop = |resume_page, why: String| Step::Stop {
            resume_page,
            error: Error::protocol(why),
        };

        // A page identical to the one before: the service ignores `page`.
        let keys: Vec<Key> = tasks.iter().map(Key::of).collect();
        let signature = hash_of(&keys);
        if self.previous.replace(signature) == Some(signature) {
            return stop(
                page,
                format!(
                    "page {page} is identical to page {} ({} tasks): the service is not \
                     paginating",
                    page.saturating_sub(1),
                    tasks.len()
                ),
            );
        }

        // Metadata that contradicts itself (tasks on a page past its own total, an answer for
        // another page) says nothing about the end.
        let total = meta
            .total_pages
            .filter(|&t| t >= page && meta.page.is_none_or(|p| p == page));
        if let Some(t) = total {
            let (first, bound) = *self
                .first_total
                .get_or_insert_with(|| (t, total_pages_bound(t)));
            if t > bound {
                return stop(
                    page,
                    format!(
                        "page {page} says there are {t} pages, but the first answer said {first} \
                         (at most {bound} with the margin) and the pinned window cannot grow that \
                         much: the service keeps reporting more pages"
                    ),
                );
            }
        }
        if let Some((first, bound)) = self.first_total
            && page > bound
        {
            return stop(
                page,
                format!(
                    "page {page} still has tasks, past the {first} pages the first answer \
                     reported (at most {bound} with the margin): the service keeps bringing more"
                ),
            );
        }

        // What is new: tasks with an id not yielded yet, and tasks without one whose content was
        // not seen on an earlier page (those are yielded whenever their page brings anything new).
        let count = tasks.len() as u64;
        let mut new_anonymous = false;
        let mut fresh = Vec::with_capacity(tasks.len());
        for (task, key) in tasks.into_iter().zip(keys) {
            match key {
                Key::Id(_) => {
                    if self.seen.insert_ref(task.id.as_deref().unwrap_or_default()) {
                        fresh.push(task);
                    }
                }
                Key::Anonymous(fingerprint) => {
                    new_anonymous |= self.anonymous.insert(fingerprint);
                    fresh.push(task);
                }
            }
        }
        let new_ids = fresh.iter().any(|t| t.id.is_some());
        if !new_ids && !new_anonymous {
            let (since, run) = match self.stale {
                Some((since, run)) => (since, run + 1),
                None => (page, 1),
            };
            self.stale = Some((since, run));
            if run >= STALE_PAGES_LIMIT {
                return stop(
                    since,
                    format!(
                        "pages {since} to {page} brought no task not already listed \
                         ({STALE_PAGES_LIMIT} pages in a row): the service is not paginating"
                    ),
                );
            }
            fresh.clear();
        } else {
            self.stale = None;
        }

        // The end: the last page by a credible total, unless it is full (then one more request
        // checks that nothing follows); with no credible total, a short page.
        let per_page = meta.per_page.or(self.asked_per_page).filter(|&p| p > 0);
        let full = per_page.is_none_or(|p| count >= p);
        let known_full = per_page.is_some_and(|p| count >= p);
        let ends = match total {
            Some(t) if page >= t => !known_full,
            Some(_) => false,
            None => !full,
        };
        if ends {
            return Step::End(fresh);
        }
        Step::Continue {
            tasks: fresh,
            next: page.saturating_add(1),
            known_last: total.filter(|&t| t > page),
        }
    }
}

/// How a task is told apart: its id, or (without one) a fingerprint of its content.
#[derive(Hash)]
enum Key {
    Id(u64),
    Anonymous(u64),
}

impl Key {
    fn of(task: &ArrayTask) -> Key {
        match &task.id {
            Some(id) => Key::Id(hash_of(id)),
            None => Key::Anonymous(hash_of(&serde_json::to_vec(task).unwrap_or_default())),
        }
    }
}

fn hash_of(value: &impl Hash) -> u64 {
    let mut h = DefaultHasher::new();
    value.hash(&mut h);
    h.finish()
}

/// The most recent `window` keys, bounded.
struct Seen<K> {
    window: usize,
    set: HashSet<K>,
    order: VecDeque<K>,
}

impl<K: Hash + Eq + Clone> Seen<K> {
    fn new(window: usize) -> Self {
        Seen {
            window: window.max(1),
            set: HashSet::new(),
            order: VecDeque::new(),
        }
    }

    /// Whether `key` is new; the oldest key leaves when the window is full.
    fn insert(&mut self, key: K) -> bool {
        if self.set.contains(&key) {
            return false;
        }
        if self.order.len() >= self.window
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        self.set.insert(key.clone());
        self.order.push_back(key);
        true
    }
}

impl Seen<String> {
    fn insert_ref(&mut self, key: &str) -> bool {
        !self.set.contains(key) && self.insert(key.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_is_bounded_and_the_oldest_ids_leave_it() {
        let mut s = Seen::new(100);
        for i in 0..150 {
            assert!(s.insert_ref(&i.to_string()));
        }
        assert_eq!(s.set.len(), 100);
        assert!(!s.insert_ref("149"));
        assert!(s.insert_ref("0"), "the oldest ids leave the window");
    }

    #[test]
    fn the_bound_is_two_pages_or_a_tenth() {
        assert_eq!(total_pages_bound(0), 2);
        assert_eq!(total_pages_bound(3), 5);
        assert_eq!(total_pages_bound(100), 110);
        assert_eq!(total_pages_bound(u64::MAX), u64::MAX);
    }
}
