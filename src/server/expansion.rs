//! Planning bounded before it starts: a statement is weighed for how many copies of its common
//! table expressions (and of the database's views) SQLite's planner would make, and refused past
//! [`MAX_EXPANSION`].
//!
//! Why: SQLite inlines every reference to a `NOT MATERIALIZED` CTE, and to a view, as a copy of
//! its body. A chain where each CTE references the previous one twice (by a join or by
//! `UNION ALL`) doubles at every link: a 1.2 KB statement of 18 links is 262,144 copies. The
//! copying happens while the statement is prepared, where neither the progress handler nor an
//! interrupt reaches it. Measured with the bundled SQLite 3.50 (debug build), with this weighing
//! off, a 2 s time limit and the watchdog interrupting at 2 s: join chains of 14, 15 and 16 links
//! took 3.4, 14.3 and 27.5 s before failing (the interrupt is seen only once planning ends);
//! `UNION ALL` chains doubled their memory with each link (182 MB at 16) until the heap limit
//! failed them (18 links: peak resident 358 MB under a 256 MiB limit). The heap limit stops the
//! memory, not the time; this weighing stops both, at once.
//!
//! The weighing reads tokens, not a full grammar, and errs towards counting too much: a CTE
//! defined but unused still counts; one without a hint counts as SQLite treats it (inlined when
//! referenced once, materialized when referenced more often); a `MATERIALIZED` one is planned
//! once. A name defined twice (nested `WITH`s) counts as its heaviest definition.

use std::collections::HashMap;

use rusqlite::Connection;

/// The most copies of CTE and view bodies a statement may make the planner create.
pub(crate) const MAX_EXPANSION: u64 = 10_000;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    /// An identifier or keyword, lower-cased (quotes removed).
    Word(String),
    Open,
    Close,
    Comma,
    Semi,
    /// Anything else: literals, operators.
    Other,
}

fn tokenize(sql: &str) -> Vec<Tok> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' => i += 1,
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i < b.len() && !(b[i] == b'*' && b.get(i + 1) == Some(&b'/')) {
                    i += 1;
                }
                i += 2;
            }
            b'\'' => {
                i = skip_quoted(b, i, b'\'');
                out.push(Tok::Other);
            }
            b'"' | b'`' | b'[' => {
                let close = if c == b'[' { b']' } else { c };
                let end = skip_quoted(b, i, close);
                let inner = &sql[i + 1..end.saturating_sub(1).max(i + 1)];
                out.push(Tok::Word(inner.to_ascii_lowercase()));
                i = end;
            }
            b'(' => {
                out.push(Tok::Open);
                i += 1;
            }
            b')' => {
                out.push(Tok::Close);
                i += 1;
            }
            b',' => {
                out.push(Tok::Comma);
                i += 1;
            }
            b';' => {
                out.push(Tok::Semi);
                i += 1;
            }
            c if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 => {
                let start = i;
                while i < b.len()
                    && (b[i].is_ascii_alphanumeric()
                        || b[i] == b'_'
                        || b[i] == b'$'
                        || b[i] >= 0x80)
                {
                    i += 1;
                }
                out.push(Tok::Word(sql[start..i].to_ascii_lowercase()));
            }
            _ => {
                // Numbers and operators; a number's digits and dots are one token or many,
                // either way not a name.
                out.push(Tok::Other);
                i += 1;
            }
        }
    }
    out
}

/// The index just past the quoted run starting at `start` (doubled quotes stay inside).
fn skip_quoted(b: &[u8], start: usize, close: u8) -> usize {
    let mut i = start + 1;
    while i < b.len() {
        if b[i] == close {
            if close != b']' && b.get(i + 1) == Some(&close) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    b.len()
}

fn is_word(t: Option<&Tok>, w: &str) -> bool {
    matches!(t, Some(Tok::Word(x)) if x == w)
}

/// The index of the `)` matching the `(` at `open` (or the end).
fn matching(toks: &[Tok], open: usize) -> usize {
    let mut depth = 0usize;
    for (i, t) in toks.iter().enumerate().skip(open) {
        match t {
            Tok::Open => depth += 1,
            Tok::Close => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    toks.len()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hint {
    /// `NOT MATERIALIZED`, or a view: every reference is a copy.
    Inline,
    /// `MATERIALIZED`: planned once.
    Materialized,
    /// No hint: inlined if referenced once, materialized otherwise.
    Unhinted,
}

/// A named body: a CTE or a view.
#[derive(Debug)]
struct Def {
    name: String,
    /// The token naming it (not a reference to it).
    name_at: usize,
    hint: Hint,
    /// The token range of its body.
    body: (usize, usize),
}

/// Where `toks` defines CTEs and views.
fn definitions(toks: &[Tok]) -> Vec<Def> {
    let mut defs = Vec::new();
    for i in 0..toks.len() {
        let Tok::Word(name) = &toks[i] else { continue };
        // CTE: (WITH | RECURSIVE | ,) name [ ( cols ) ] AS [NOT] [MATERIALIZED] ( body )
        let before = i.checked_sub(1).map(|j| &toks[j]);
        let opens_cte = matches!(before, Some(Tok::Comma))
            || is_word(before, "with")
            || is_word(before, "recursive");
        if opens_cte {
            let mut j = i + 1;
            if toks.get(j) == Some(&Tok::Open) {
                j = matching(toks, j) + 1;
            }
            if !is_word(toks.get(j), "as") {
                continue;
            }
            j += 1;
            let mut hint = Hint::Unhinted;
            if is_word(toks.get(j), "not") && is_word(toks.get(j + 1), "materialized") {
                hint = Hint::Inline;
                j += 2;
            } else if is_word(toks.get(j), "materialized") {
                hint = Hint::Materialized;
                j += 1;
            }
            if toks.get(j) == Some(&Tok::Open) {
                let end = matching(toks, j);
                defs.push(Def {
                    name: name.clone(),
                    name_at: i,
                    hint,
                    body: (j + 1, end),
                });
            }
        }
        // View: VIEW [IF NOT EXISTS] [schema .] name [ ( cols ) ] AS body ; (in init_commands)
        if name == "view" && i > 0 {
            let mut j = i + 1;
            if is_word(toks.get(j), "if") {
                j += 3;
            }
            let Some(Tok::Word(mut view)) = toks.get(j).cloned() else {
                continue;
            };
            let mut name_at = j;
            // `schema.name`: the dot is an `Other` token.
            if toks.get(j + 1) == Some(&Tok::Other)
                && let Some(Tok::Word(n)) = toks.get(j + 2)
            {
                view = n.clone();
                j += 2;
                name_at = j;
            }
            j += 1;
            if toks.get(j) == Some(&Tok::Open) {
                j = matching(toks, j) + 1;
            }
            if !is_word(toks.get(j), "as") {
                continue;
            }
            let start = j + 1;
            let end = toks[start..]
                .iter()
                .position(|t| *t == Tok::Semi)
                .map_or(toks.len(), |p| start + p);
            defs.push(Def {
                name: view,
                name_at,
                hint: Hint::Inline,
                body: (start, end),
            });
        }
    }
    defs
}

/// One source of definitions: the statement's own tokens, or a view's.
struct Source {
    toks: Vec<Tok>,
    defs: Vec<Def>,
}

impl Source {
    fn new(sql: &str) -> Source {
        let toks = tokenize(sql);
        let defs = definitions(&toks);
        Source { toks, defs }
    }

    /// Whether token `i` is in the body of one of its definitions.
    fn inside_definition(&self, i: usize) -> bool {
        self.defs.iter().any(|d| (d.body.0..d.body.1).contains(&i))
    }

    /// Whether token `i` names one of its definitions (rather than referencing one).
    fn names_definition(&self, i: usize) -> bool {
        self.defs.iter().any(|d| d.name_at == i)
    }
}

struct Weigher<'a> {
    sources: &'a [Source],
    /// Every definition: (source, index in its `defs`), by name.
    by_name: HashMap<&'a str, Vec<(usize, usize)>>,
    /// How often each name is referenced, in all.
    uses: HashMap<&'a str, u64>,
    memo: HashMap<(usize, usize), u64>,
    visiting: Vec<(usize, usize)>,
}

impl<'a> Weigher<'a> {
    fn new(sources: &'a [Source]) -> Self {
        let mut by_name: HashMap<&str, Vec<(usize, usize)>> = HashMap::new();
        for (s, source) in sources.iter().enumerate() {
            for (d, def) in source.defs.iter().enumerate() {
                by_name.entry(def.name.as_str()).or_default().push((s, d));
            }
        }
        let mut uses: HashMap<&str, u64> = HashMap::new();
        for source in sources {
            for (i, t) in source.toks.iter().enumerate() {
                if let Tok::Word(w) = t
                    && !source.names_definition(i)
                    && let Some((name, _)) = by_name.get_key_value(w.as_str())
                {
                    *uses.entry(name).or_default() += 1;
                }
            }
        }
        Weigher {
            sources,
            by_name,
            uses,
            memo: HashMap::new(),
            visiting: Vec::new(),
        }
    }

    /// Copies the planner makes for the tokens `range` of `source`, skipping `own` (a CTE's
    /// reference to itself is recursion, not a copy).
    fn weigh_range(&mut self, source: usize, range: (usize, usize), own: Option<&str>) -> u64 {
        let mut total: u64 = 1;
        let (start, end) = range;
        for i in start..end.min(self.sources[source].toks.len()) {
            // The statement itself: what is inside a definition is weighed with it.
            if own.is_none() && self.sources[source].inside_definition(i) {
                continue;
            }
            let Tok::Word(w) = &self.sources[source].toks[i] else {
                continue;
            };
            if Some(w.as_str()) == own {
                continue;
            }
            let Some(defs) = self.by_name.get(w.as_str()).cloned() else {
                continue;
            };
            if self.sources[source].names_definition(i) {
                continue;
            }
            let cost = defs
                .iter()
                .map(|def| self.reference_cost(*def))
                .max()
                .unwrap_or(1);
            total = total.saturating_add(cost);
        }
        total
    }

    /// What one reference to `def` costs: its whole weight if inlined, one if materialized.
    fn reference_cost(&mut self, def: (usize, usize)) -> u64 {
        let d = &self.sources[def.0].defs[def.1];
        let inlined = match d.hint {
            Hint::Inline => true,
            Hint::Materialized => false,
            Hint::Unhinted => self.uses.get(d.name.as_str()).copied().unwrap_or(0) <= 1,
        };
        if inlined { self.weight(def) } else { 1 }
    }

    /// The copies planning `def` once makes.
    fn weight(&mut self, def: (usize, usize)) -> u64 {
        if let Some(w) = self.memo.get(&def) {
            return *w;
        }
        if self.visiting.contains(&def) {
            return 1;
        }
        self.visiting.push(def);
        let d = &self.sources[def.0].defs[def.1];
        let (body, name) = (d.body, d.name.clone());
        let w = self.weigh_range(def.0, body, Some(&name));
        self.visiting.pop();
        self.memo.insert(def, w);
        w
    }
}

/// The views of the database `conn` has open (main and temp), as `(name, CREATE VIEW sql)`.
pub(crate) fn views(conn: &Connection) -> rusqlite::Result<Vec<(String, String)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT name, sql FROM sqlite_schema WHERE type = 'view' AND sql IS NOT NULL \
         UNION ALL SELECT name, sql FROM sqlite_temp_schema WHERE type = 'view' AND sql IS NOT NULL",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

/// The copies planning `sql` would make, with the database's `views`.
pub(crate) fn weigh(sql: &str, views: &[(String, String)]) -> u64 {
    let mut sources = vec![Source::new(sql)];
    sources.extend(views.iter().map(|(_, view_sql)| Source::new(view_sql)));
    let mut weigher = Weigher::new(&sources);
    let statement = sources[0].toks.len();
    // The statement outside its definitions, and each of its definitions (used or not); views
    // count where referenced.
    let mut heaviest = weigher.weigh_range(0, (0, statement), None);
    for d in 0..sources[0].defs.len() {
        heaviest = heaviest.max(weigher.weight((0, d)));
    }
    heaviest
}

/// Refuses `sql` (with the database's `views`) if planning it would copy CTE or view bodies
/// more than [`MAX_EXPANSION`] times; the message says so and how to fix it.
pub(crate) fn check(sql: &str, views: &[(String, String)]) -> Result<(), String> {
    let copies = weigh(sql, views);
    if copies > MAX_EXPANSION {
        return Err(format!(
            "statement refused: its common table expressions or views would make the query \
             planner copy them {} times (the server's limit is {MAX_EXPANSION}); reference \
             each one less often, or mark the repeated ones MATERIALIZED",
            if copies == u64::MAX {
                "more than 10^19".to_owned()
            } else {
                copies.to_string()
            }
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A chain of `n` CTEs, each referencing the previous one twice, by join or by union.
    fn chain(union: bool, n: usize, hint: &str) -> String {
        let mut ctes = vec![format!("c0(x) AS {hint} (SELECT 1)")];
        for i in 1..=n {
            let p = i - 1;
            let body = if union {
                format!("SELECT x FROM c{p} UNION ALL SELECT x FROM c{p}")
            } else {
                format!("SELECT a.x FROM c{p} a, c{p} b")
            };
            ctes.push(format!("c{i}(x) AS {hint} ({body})"));
        }
        format!("WITH {} SELECT count(*) FROM c{n}", ctes.join(", "))
    }

    #[test]
    fn not_materialized_chains_double_with_each_link() {
        for union in [false, true] {
            assert_eq!(weigh(&chain(union, 3, "NOT MATERIALIZED"), &[]), 15 + 1);
            assert!(check(&chain(union, 12, "NOT MATERIALIZED"), &[]).is_ok());
            for n in 14..=25 {
                let err = check(&chain(union, n, "NOT MATERIALIZED"), &[]).unwrap_err();
                assert!(err.contains("limit is 10000"), "{err}");
            }
        }
    }

    #[test]
    fn materialized_and_unhinted_chains_are_planned_once_per_link() {
        for hint in ["MATERIALIZED", ""] {
            let w = weigh(&chain(false, 25, hint), &[]);
            assert!(w < 100, "{hint}: {w}");
        }
    }

    #[test]
    fn view_chains_count_like_inlined_ctes() {
        let mut views = vec![(
            "v0".to_owned(),
            "CREATE VIEW v0 AS SELECT 1 AS x".to_owned(),
        )];
        for i in 1..=16 {
            let p = i - 1;
            views.push((
                format!("v{i}"),
                format!("CREATE VIEW v{i} AS SELECT a.x FROM v{p} a, \"v{p}\" b"),
            ));
        }
        assert!(check("SELECT count(*) FROM v16", &views).is_err());
        assert!(check("SELECT count(*) FROM v3", &views).is_ok());
        // Defined in the same text (init_commands) too.
        let mut sql = String::from("CREATE VIEW w0 AS SELECT 1 AS x;");
        for i in 1..=16 {
            sql.push_str(&format!(
                "CREATE TEMP VIEW IF NOT EXISTS w{i} AS SELECT a.x FROM w{} a JOIN w{} b;",
                i - 1,
                i - 1
            ));
        }
        assert!(check(&sql, &[]).is_err());
    }

    #[test]
    fn ordinary_statements_weigh_little() {
        for sql in [
            "SELECT 1",
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 200) \
             SELECT x, 'c, c AS (' FROM c",
            "WITH a AS (SELECT 1), b AS (SELECT * FROM a) SELECT * FROM a, b -- a a a a",
            "SELECT CAST(x AS TEXT), y AS \"as\" FROM t /* c0 c0 */",
        ] {
            assert!(weigh(sql, &[]) < 10, "{sql}: {}", weigh(sql, &[]));
        }
    }
}
