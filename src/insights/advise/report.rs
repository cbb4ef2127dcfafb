//! `palmdb advise` for people: each advice with its statement to run and what it buys, then
//! what became of every statement examined, in one line each.

use std::fmt::Write;

use super::explain::PlanMode;
use super::{AdviceReport, Verdict};
use crate::insights::queries::one_line;

impl crate::ui::Report for AdviceReport {
    fn render_text(&self) -> String {
        let mut out = String::new();
        let plans = match self.plans {
            PlanMode::Generic => "generic plans",
            PlanMode::Samples => "plans with sample values from pg_stats",
        };
        let _ = writeln!(
            out,
            "index advice for the {} most expensive statements on the application's tables \
             ({plans}, PostgreSQL {}; an index must lower a statement's cost by {:.0}% or more)",
            self.statements.len(),
            self.server_version_num / 10000,
            self.min_improvement * 100.0
        );
        if self.advice.is_empty() {
            out.push_str("\nno index to add: no candidate lowers any statement's cost enough\n");
        }
        for (i, advice) in self.advice.iter().enumerate() {
            let _ = writeln!(out, "\n{}. {}", i + 1, advice.create_index);
            let _ = writeln!(
                out,
                "   estimated size {}{}",
                crate::ui::human::pg_size(advice.estimated_bytes),
                if advice.makes_redundant.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; makes redundant (drop once built): {}",
                        advice.makes_redundant.join(", ")
                    )
                }
            );
            for s in &advice.statements {
                let _ = writeln!(
                    out,
                    "   cost {:.1} -> {:.1} (-{:.0}%), {} calls: {}",
                    s.cost_before,
                    s.cost_after,
                    s.improvement * 100.0,
                    s.calls,
                    one_line(&s.query, 90)
                );
            }
        }
        let count = |v: Verdict| self.statements.iter().filter(|s| s.verdict == v).count();
        let _ = writeln!(
            out,
            "\nstatements: {} advised, {} already served, {} without candidate columns, {} skipped \
             ({} others passed over: not a SELECT, UPDATE or DELETE, or on no application table)",
            count(Verdict::Advised),
            count(Verdict::Served),
            count(Verdict::NoCandidates),
            count(Verdict::Skipped),
            self.other_statements
        );
        for s in self
            .statements
            .iter()
            .filter(|s| s.verdict == Verdict::Skipped)
        {
            let _ = writeln!(out, "  {}: {}", one_line(&s.query, 70), s.reason);
        }
        out
    }
}
