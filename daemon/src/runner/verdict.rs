//! A grader's verdict: the last fenced JSON block of its final text, with
//! `rating` (0 to 1), `feedback`, `blockers` and `comments`. A missing or
//! invalid verdict is an error, never a pass.

use cattery_protocol::agent::Grade;

/// The verdict in `text`, or why there is none.
pub fn read(text: &str) -> Result<Grade, String> {
    let block = super::last_fenced(text, "```json")
        .and_then(Result::ok)
        .ok_or_else(|| "the grader's final text has no fenced ```json verdict".to_owned())?;
    let grade: Grade = serde_json::from_str(block)
        .map_err(|e| format!("the grader's verdict is not valid: {e}"))?;
    if !(0.0..=1.0).contains(&grade.rating) {
        return Err(format!(
            "the grader's rating {} is not between 0 and 1",
            grade.rating
        ));
    }
    Ok(grade)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_last_fenced_json_block_is_the_verdict_and_anything_else_is_refused() {
        let text = "Looks close.\n```json\n{\"rating\": 0.6, \"feedback\": \"name the error\", \"comments\": [{\"severity\": \"major\", \"body\": \"check None\", \"path\": \"app.py\", \"line\": 3}]}\n```\n";
        let grade = read(text).unwrap();
        assert_eq!(grade.rating, 0.6);
        assert_eq!(grade.comments[0].path.as_deref(), Some("app.py"));
        assert!(read("no verdict at all").unwrap_err().contains("no fenced"));
        assert!(
            read("```json\n{\"rating\": \"high\"}\n```")
                .unwrap_err()
                .contains("not valid")
        );
        assert!(
            read("```json\n{\"rating\": 7}\n```")
                .unwrap_err()
                .contains("between 0 and 1")
        );
    }
}
