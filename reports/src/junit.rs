//! JUnit XML of gate verdicts: one test suite a scenario, one test case a gate.

use serde_json::Value;

/// `scenarios` holds (scenario name, its summary with `gates: [{gate, value, pass}]`) and,
/// when a baseline was checked, the differences from it (a failing test case of its own).
pub fn gates(scenarios: &[(String, Value, Option<Vec<String>>)]) -> Result<String, String> {
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
    let mut report = Report::new("bookingsim gate");
    for (name, summary, baseline) in scenarios {
        let mut suite = TestSuite::new(name.as_str());
        for g in summary["gates"].as_array().into_iter().flatten() {
            let status = if g["pass"] == true {
                TestCaseStatus::success()
            } else {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_message(format!("value {}", g["value"]));
                s
            };
            suite.add_test_case(TestCase::new(
                g["gate"].as_str().unwrap_or_default(),
                status,
            ));
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
