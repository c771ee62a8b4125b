//! The pipeline: a lead's stages (the host's `LEAD_STAGES`) and the moves between them.
//!
//! new → contacted → qualified, one step at a time, and one step back from qualified; any open
//! stage → unqualified; unqualified → new or contacted when the person comes back. `converted`
//! is reached only by converting the lead, and nothing leaves it.

/// The stages, in pipeline order.
pub const STAGES: &[&str] = &["new", "contacted", "qualified", "unqualified", "converted"];

/// Stages from which a lead may still be worked (and converted).
pub const OPEN: &[&str] = &["new", "contacted", "qualified"];

/// Why a move is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// `to` is not a stage.
    Unknown,
    /// Converting is its own step.
    ConvertFirst,
    /// The pipeline does not allow it.
    NotAllowed,
}

/// Whether a lead at `from` may move to `to` by the stage route.
pub fn check_move(from: &str, to: &str) -> Result<(), Refusal> {
    if !STAGES.contains(&to) {
        return Err(Refusal::Unknown);
    }
    if to == "converted" {
        return Err(Refusal::ConvertFirst);
    }
    let ok = matches!(
        (from, to),
        ("new", "contacted") | ("contacted", "qualified") | ("qualified", "contacted") | ("unqualified", "new") | ("unqualified", "contacted")
    ) || (to == "unqualified" && OPEN.contains(&from));
    if ok { Ok(()) } else { Err(Refusal::NotAllowed) }
}

/// Whether a lead at `stage` may be converted.
pub fn may_convert(stage: &str) -> bool {
    OPEN.contains(&stage)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pipeline_moves_one_step_at_a_time() {
        assert_eq!(check_move("new", "contacted"), Ok(()));
        assert_eq!(check_move("contacted", "qualified"), Ok(()));
        assert_eq!(check_move("qualified", "contacted"), Ok(()), "one step back");
        assert_eq!(check_move("new", "qualified"), Err(Refusal::NotAllowed), "no skipping contact");
        assert_eq!(check_move("new", "new"), Err(Refusal::NotAllowed));
    }

    #[test]
    fn unqualified_is_reachable_from_open_stages_and_can_be_reopened() {
        for from in OPEN {
            assert_eq!(check_move(from, "unqualified"), Ok(()), "{from}");
        }
        assert_eq!(check_move("unqualified", "contacted"), Ok(()));
        assert_eq!(check_move("unqualified", "qualified"), Err(Refusal::NotAllowed));
        assert!(!may_convert("unqualified"));
    }

    #[test]
    fn converted_is_reached_only_by_conversion_and_is_final() {
        assert_eq!(check_move("qualified", "converted"), Err(Refusal::ConvertFirst));
        for to in STAGES {
            assert!(check_move("converted", to).is_err(), "{to}");
        }
        assert!(!may_convert("converted"));
        assert!(may_convert("new") && may_convert("qualified"));
        assert_eq!(check_move("new", "won"), Err(Refusal::Unknown));
    }
}
