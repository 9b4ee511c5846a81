//! JUnit XML of gate verdicts: one test suite a scenario, one test case a gate.

/// One scenario's test suite.
#[derive(Debug, Clone, PartialEq)]
pub struct Suite {
    /// The scenario's name.
    pub name: String,
    pub gates: Vec<GateCase>,
    /// When a baseline was checked, the differences from it (a failing test case of its own).
    pub baseline: Option<Vec<String>>,
}

/// One gate's test case.
#[derive(Debug, Clone, PartialEq)]
pub struct GateCase {
    pub gate: String,
    pub pass: bool,
    /// What it read, as JSON writes it (`2.0`, `null`, a quoted message): a failure's
    /// message is `value <this>`.
    pub value: String,
}

pub fn gates(scenarios: &[Suite]) -> Result<String, String> {
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
    let mut report = Report::new("bookingsim gate");
    for Suite {
        name,
        gates,
        baseline,
    } in scenarios
    {
        let mut suite = TestSuite::new(name.as_str());
        for g in gates {
            let status = if g.pass {
                TestCaseStatus::success()
            } else {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(format!("value {}", g.value));
                s
            };
            suite.add_test_case(TestCase::new(g.gate.as_str(), status));
        }
        if let Some(diff) = baseline {
            let status = if diff.is_empty() {
                TestCaseStatus::success()
            } else {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(format!("{} fields differ from the baseline", diff.len()));
                s.set_description(diff.join("\n"));
                s
            };
            suite.add_test_case(TestCase::new("matches baseline", status));
        }
        report.add_test_suite(suite);
    }
    report.to_string().map_err(|e| e.to_string())
}
