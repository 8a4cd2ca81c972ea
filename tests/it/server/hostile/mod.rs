//! The local server against clients that are slow, greedy or malicious (issue 14): connections
//! that never finish a head or never read, more connections than the limit, oversized heads,
//! queries that take all the memory or make the planner explode.
//! Loopback only; every configured timeout is small, and every bound on it has generous slack.

mod connections;
mod memory;
mod readers;
