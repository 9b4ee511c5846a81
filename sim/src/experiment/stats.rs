//! Statistics over seeds: paired differences with confidence intervals, and the knee of a
//! curve.

/// The mean of paired differences `policy - reference` over seeds, with a 95 % confidence
/// interval: part of the reports' model.
pub use reports::model::PairedDifference;

/// `pairs` holds (reference, policy) values of the same seed.
pub fn paired_difference(pairs: &[(f64, f64)]) -> Option<PairedDifference> {
    let n = pairs.len();
    if n == 0 {
        return None;
    }
    let mean = |f: &dyn Fn(&(f64, f64)) -> f64| pairs.iter().map(f).sum::<f64>() / n as f64;
    let reference_mean = mean(&|p| p.0);
    let policy_mean = mean(&|p| p.1);
    let d_mean = mean(&|p| p.1 - p.0);
    let ci95 = (n >= 2).then(|| {
        let var = pairs
            .iter()
            .map(|p| (p.1 - p.0 - d_mean).powi(2))
            .sum::<f64>()
            / (n - 1) as f64;
        let half = t975(n - 1) * (var / n as f64).sqrt();
        [d_mean - half, d_mean + half]
    });
    Some(PairedDifference {
        pairs: n,
        reference_mean,
        mean: policy_mean,
        difference: d_mean,
        ci95,
        relative: (reference_mean != 0.0).then(|| policy_mean / reference_mean - 1.0),
    })
}

/// The 97.5 % quantile of Student's t with `df` degrees of freedom.
fn t975(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::NAN,
        1..=30 => TABLE[df - 1],
        // Within 0.002 of the exact quantile beyond 30 degrees of freedom.
        _ => 1.96 + 2.4 / df as f64,
    }
}

/// Where a curve crosses a condition: the first x (ascending) at which it holds, and the x
/// interpolated linearly between the last point before and that one.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Knee {
    pub at: f64,
    /// `None` when the condition holds from the grid's first point: the crossing lies
    /// below the grid, which does not bracket it.
    pub interpolated: Option<f64>,
}

/// `points` are (x, y); `holds` says whether y is past the threshold; `threshold` is where the
/// crossing is interpolated to.
pub fn knee(points: &[(f64, f64)], threshold: f64, holds: impl Fn(f64) -> bool) -> Option<Knee> {
    let mut sorted = points.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let i = sorted.iter().position(|p| holds(p.1))?;
    let (x1, y1) = sorted[i];
    let interpolated = match i.checked_sub(1).map(|j| sorted[j]) {
        Some((x0, y0)) if y1 != y0 => {
            Some((x0 + (threshold - y0) / (y1 - y0) * (x1 - x0)).clamp(x0, x1))
        }
        Some(_) => Some(x1),
        None => None,
    };
    Some(Knee {
        at: x1,
        interpolated,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paired_difference_and_its_interval() {
        // The policy removes 0.09 of 0.10 on every seed, give or take 0.01.
        let pairs = [(0.10, 0.00), (0.12, 0.02), (0.08, 0.00), (0.10, 0.01)];
        let d = paired_difference(&pairs).unwrap();
        assert_eq!(d.pairs, 4);
        assert!((d.difference + 0.0925).abs() < 1e-12);
        let [lo, hi] = d.ci95.unwrap();
        assert!(lo < d.difference && d.difference < hi);
        assert!(
            hi < 0.0,
            "a consistent improvement excludes zero: {lo}..{hi}"
        );
        assert!((d.relative.unwrap() + 0.925).abs() < 1e-9);
        // Identical policies: a zero difference with a zero-width interval.
        let same = paired_difference(&[(0.3, 0.3), (0.5, 0.5)]).unwrap();
        assert_eq!(same.ci95, Some([0.0, 0.0]));
        assert!(paired_difference(&[(1.0, 2.0)]).unwrap().ci95.is_none());
        assert!(paired_difference(&[]).is_none());
    }

    #[test]
    fn knee_on_a_synthetic_curve() {
        // A hockey stick: flat near zero, then failures rise from 8 calls/s.
        let curve: Vec<(f64, f64)> = (1..=20)
            .map(|x| {
                let x = f64::from(x);
                (x, if x < 8.0 { 0.001 } else { (x - 7.0) * 0.01 })
            })
            .rev()
            .collect();
        let k = knee(&curve, 0.015, |y| y > 0.015).unwrap();
        assert_eq!(k.at, 9.0);
        let x = k.interpolated.unwrap();
        assert!((x - 8.5).abs() < 1e-9, "{x}");
        assert!(knee(&curve, 1.0, |y| y > 1.0).is_none(), "never crossed");
        let first = knee(&curve, 0.0, |y| y > 0.0).unwrap();
        assert_eq!(first.at, 1.0, "crossed from the start");
        assert_eq!(first.interpolated, None, "below the grid: not bracketed");
    }
}
