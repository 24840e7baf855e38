//! `/` filters: free words plus facets such as `status:blocked`,
//! `pipeline:quick`, `kind:decision` and `age>1h`.

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    pub text: String,
    words: Vec<String>,
    statuses: Vec<String>,
    pipelines: Vec<String>,
    kinds: Vec<String>,
    older_than_ms: Option<u64>,
    newer_than_ms: Option<u64>,
}

/// What a row offers to a filter.
pub struct Subject<'a> {
    pub title: &'a str,
    /// Block and run statuses, gate kind words: anything `status:` may name.
    pub statuses: &'a [&'a str],
    pub pipeline: Option<&'a str>,
    pub kind: Option<&'a str>,
    pub age_ms: u64,
}

impl Filter {
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut filter = Self {
            text: text.to_owned(),
            ..Self::default()
        };
        for term in text.split_whitespace() {
            filter.add(term)?;
        }
        Ok(filter)
    }

    fn add(&mut self, term: &str) -> Result<(), String> {
        let lower = term.to_lowercase();
        if let Some(age) = lower.strip_prefix("age>") {
            self.older_than_ms = Some(duration_ms(age)?);
        } else if let Some(age) = lower.strip_prefix("age<") {
            self.newer_than_ms = Some(duration_ms(age)?);
        } else if let Some((facet, value)) = lower.split_once(':') {
            let value = value.replace('-', "_");
            match facet {
                "status" => self.statuses.push(value),
                "pipeline" => self.pipelines.push(value),
                "kind" => self.kinds.push(value),
                other => {
                    return Err(format!(
                        "`{other}:` is not a filter facet; use status:, pipeline:, kind:, age>, age<"
                    ));
                }
            }
        } else {
            self.words.push(lower);
        }
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.text.trim().is_empty()
    }

    pub fn wants_kind(&self) -> bool {
        !self.kinds.is_empty()
    }

    pub fn matches(&self, subject: &Subject<'_>) -> bool {
        self.facets_match(subject) && self.words_match(subject.title)
    }

    fn words_match(&self, title: &str) -> bool {
        if self.words.is_empty() {
            return true;
        }
        let title = title.to_lowercase();
        self.words.iter().all(|w| title.contains(w.as_str()))
    }

    fn facets_match(&self, subject: &Subject<'_>) -> bool {
        any_or_empty(&self.statuses, |s| subject.statuses.contains(&s))
            && any_or_empty(&self.pipelines, |p| subject.pipeline == Some(p))
            && any_or_empty(&self.kinds, |k| {
                subject.kind.is_some_and(|kind| kind.starts_with(k))
            })
            && self.older_than_ms.is_none_or(|ms| subject.age_ms > ms)
            && self.newer_than_ms.is_none_or(|ms| subject.age_ms < ms)
    }
}

fn any_or_empty(wanted: &[String], hit: impl Fn(&str) -> bool) -> bool {
    wanted.is_empty() || wanted.iter().any(|w| hit(w))
}

/// `90s`, `15m`, `1h`, `2d`.
fn duration_ms(text: &str) -> Result<u64, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not an age; write it like 90s, 15m, 1h or 2d"))?;
    let unit_ms = match unit {
        "s" | "" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(format!("`{unit}` is not an age unit; use s, m, h or d")),
    };
    Ok(n * unit_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject<'a>(title: &'a str, statuses: &'a [&'a str], age_ms: u64) -> Subject<'a> {
        Subject {
            title,
            statuses,
            pipeline: Some("quick"),
            kind: Some("iteration_cap"),
            age_ms,
        }
    }

    #[test]
    fn facets_and_words_must_all_hold() {
        let f = Filter::parse("status:blocked pipeline:quick age>1h refund").unwrap();
        assert!(f.matches(&subject("Add a Refund endpoint", &["blocked"], 7_200_000)));
        assert!(!f.matches(&subject("Add a Refund endpoint", &["blocked"], 60_000)));
        assert!(!f.matches(&subject("Add a Refund endpoint", &["done"], 7_200_000)));
        assert!(!f.matches(&subject("Ledger", &["blocked"], 7_200_000)));
    }

    #[test]
    fn one_facet_may_name_several_values_and_kinds_match_by_prefix() {
        let f = Filter::parse("status:done status:in-progress kind:iter").unwrap();
        assert!(f.matches(&subject("x", &["in_progress"], 0)));
        assert!(f.matches(&subject("x", &["done"], 0)));
        assert!(!f.matches(&subject("x", &["planned"], 0)));
    }

    #[test]
    fn an_unknown_facet_or_age_says_what_to_write() {
        assert!(Filter::parse("owner:ana").unwrap_err().contains("status:"));
        assert!(Filter::parse("age>soon").unwrap_err().contains("15m"));
        assert!(
            Filter::parse("age>3w")
                .unwrap_err()
                .contains("s, m, h or d")
        );
    }
}
