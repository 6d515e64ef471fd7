//! Number formatting for the one-line reasons humans read: percentages, counts, e-values
//! and durations, short and unambiguous.

use std::time::Duration;

/// `0.52%`, `8.1%`, `12%`: three significant digits at most.
pub fn pct(rate: f64) -> String {
    if !rate.is_finite() {
        return "n/a".to_string();
    }
    let p = rate * 100.0;
    let text = if p == 0.0 {
        "0".to_string()
    } else if p.abs() >= 10.0 {
        format!("{p:.0}")
    } else if p.abs() >= 1.0 {
        format!("{p:.1}")
    } else if p.abs() >= 0.1 {
        format!("{p:.2}")
    } else {
        format!("{p:.3}")
    };
    format!("{}%", trim_zeros(&text))
}

/// `bad/total` as a percentage, or `n/a` without requests.
pub fn pct_of(bad: f64, total: f64) -> String {
    if total > 0.0 { pct(bad / total) } else { "n/a".to_string() }
}

/// Counts are integers in practice but `increase()` extrapolates: `12`, `12.4`.
pub fn count(x: f64) -> String {
    if (x - x.round()).abs() < 0.05 { format!("{}", x.round()) } else { format!("{x:.1}") }
}

/// `bad/total`.
pub fn ratio(bad: f64, total: f64) -> String {
    format!("{}/{}", count(bad), count(total))
}

/// An e-value from its natural log: `3.2`, `512`, `1.3e4`.
pub fn e_value(log_e: f64) -> String {
    if !log_e.is_finite() {
        return "n/a".to_string();
    }
    let l10 = log_e / std::f64::consts::LN_10;
    if l10 >= 4.0 {
        let exp = l10.floor();
        let mant = 10f64.powf(l10 - exp);
        // Rounding can carry the mantissa to 10.0.
        if mant >= 9.95 { format!("1e{}", exp + 1.0) } else { format!("{mant:.1}e{exp}") }
    } else {
        let e = log_e.exp();
        if e >= 10.0 {
            format!("{e:.0}")
        } else if e >= 0.01 {
            trim_zeros(&format!("{e:.2}"))
        } else {
            format!("{e:.0e}")
        }
    }
}

/// A threshold 1/level: `100`, `200`, `2.2e4`.
pub fn threshold(level: f64) -> String {
    e_value(super::sequential::threshold_log(level))
}

/// A plain value with at most 4 significant decimals: `0.93`, `1200`.
pub fn number(x: f64) -> String {
    if !x.is_finite() {
        return "n/a".to_string();
    }
    if x.abs() >= 1.0e6 || (x != 0.0 && x.abs() < 1.0e-3) {
        return format!("{x:.3e}");
    }
    trim_zeros(&format!("{x:.4}"))
}

/// `500ms`, `2s`, `1.5s`.
pub fn seconds(s: f64) -> String {
    if !s.is_finite() {
        "+Inf".to_string()
    } else if s < 1.0 {
        format!("{}ms", trim_zeros(&format!("{:.1}", s * 1000.0)))
    } else {
        format!("{}s", trim_zeros(&format!("{s:.2}")))
    }
}

/// `5m`, `90s`, `1h`.
pub fn duration(d: Duration) -> String {
    let s = d.as_secs();
    if s > 0 && s % 3600 == 0 {
        format!("{}h", s / 3600)
    } else if s > 0 && s % 60 == 0 {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

fn trim_zeros(text: &str) -> String {
    if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.').to_string() } else { text.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(pct(0.0052), "0.52%");
        assert_eq!(pct(0.081), "8.1%");
        assert_eq!(pct(0.05), "5%");
        assert_eq!(pct(0.0), "0%");
        assert_eq!(ratio(12.0, 2301.0), "12/2301");
        assert_eq!(e_value(512f64.ln()), "512");
        assert_eq!(e_value(1.3e4f64.ln()), "1.3e4");
        assert_eq!(threshold(0.01), "100");
        assert_eq!(threshold(0.005), "200");
        assert_eq!(seconds(0.5), "500ms");
        assert_eq!(seconds(2.0), "2s");
        assert_eq!(duration(Duration::from_secs(300)), "5m");
    }
}
