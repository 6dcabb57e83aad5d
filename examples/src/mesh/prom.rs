//! Reading what the services' `/metrics` say: the Prometheus text format (0.0.4) and
//! `histogram_quantile` as Prometheus computes it.

/// One sample line: `name{label="value",...} value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The metric name of the line, e.g. `http_server_request_duration_seconds_bucket`.
    pub name: String,
    /// The labels in the order written.
    pub labels: Vec<(String, String)>,
    /// The value.
    pub value: f64,
}

impl Sample {
    /// The value of label `name`, or `""` when absent (as PromQL treats it).
    pub fn label(&self, name: &str) -> &str {
        self.labels
            .iter()
            .find(|(key, _)| key == name)
            .map_or("", |(_, value)| value)
    }
}

/// Parses an exposition in the Prometheus text format; comments, blank lines and lines
/// that do not parse are skipped.
pub fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(parse_line)
        .collect()
}

fn parse_line(line: &str) -> Option<Sample> {
    let (name, labels, rest) = match line.find('{') {
        Some(open) => {
            let (labels, rest) = parse_labels(&line[open + 1..])?;
            (&line[..open], labels, rest)
        }
        None => {
            let (name, rest) = line.split_once(' ')?;
            (name, Vec::new(), rest)
        }
    };
    // The value, then an optional timestamp (and, in OpenMetrics, an exemplar after '#').
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        other => other.parse().ok()?,
    };
    Some(Sample {
        name: name.trim().to_owned(),
        labels,
        value,
    })
}

/// Parses `key="value",...}` and returns the labels and what follows the `}`.
fn parse_labels(mut text: &str) -> Option<(Vec<(String, String)>, &str)> {
    let mut labels = Vec::new();
    loop {
        text = text.trim_start_matches([',', ' ']);
        if let Some(rest) = text.strip_prefix('}') {
            return Some((labels, rest));
        }
        let (key, rest) = text.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            let (index, c) = chars.next()?;
            match c {
                '"' => break index,
                // The format escapes exactly \\, \" and \n in label values.
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                other => value.push(other),
            }
        };
        labels.push((key.trim().to_owned(), value));
        text = &rest[end + 1..];
    }
}

/// The `q`-quantile of a cumulative histogram given as `(le, count)` buckets, computed
/// as Prometheus's `histogram_quantile` does: find the bucket holding rank `q × total`
/// and interpolate linearly inside it (from 0 for the first bucket); a rank in the
/// `+Inf` bucket returns the highest finite bound. `None` without observations or
/// without a `+Inf` bucket.
///
/// ```
/// use obs_examples::mesh::prom::histogram_quantile;
///
/// let buckets = [(0.1, 50.0), (0.2, 90.0), (f64::INFINITY, 100.0)];
/// assert_eq!(histogram_quantile(0.5, &buckets), Some(0.1));
/// assert!((histogram_quantile(0.7, &buckets).unwrap() - 0.15).abs() < 1e-9);
/// assert_eq!(histogram_quantile(0.99, &buckets), Some(0.2));
/// ```
pub fn histogram_quantile(q: f64, buckets: &[(f64, f64)]) -> Option<f64> {
    let mut buckets = buckets.to_vec();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let &(last_le, total) = buckets.last()?;
    if last_le != f64::INFINITY || total <= 0.0 || !(0.0..=1.0).contains(&q) {
        return None;
    }
    let rank = q * total;
    let index = buckets.iter().position(|(_, count)| *count >= rank)?;
    if index == buckets.len() - 1 {
        return buckets.len().checked_sub(2).map(|finite| buckets[finite].0);
    }
    let (upper, count) = buckets[index];
    let (lower, below) = match index {
        0 if upper <= 0.0 => return Some(upper),
        0 => (0.0, 0.0),
        _ => buckets[index - 1],
    };
    let in_bucket = count - below;
    if in_bucket <= 0.0 {
        return Some(upper);
    }
    Some(lower + (upper - lower) * (rank - below) / in_bucket)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_labels_with_escapes_and_skips_comments() {
        let text = "# HELP x X.\n# TYPE x counter\n\
            x_total{a=\"1\",b=\"q\\\"uote\\\\ \\n\"} 3\n\
            up 1 1700000000000\n\
            h_bucket{le=\"+Inf\"} 7\n\
            broken{a=\"1\" 2\n";
        let samples = parse(text);
        assert_eq!(samples.len(), 3, "{samples:?}");
        assert_eq!(samples[0].name, "x_total");
        assert_eq!(samples[0].label("b"), "q\"uote\\ \n");
        assert_eq!(samples[0].value, 3.0);
        assert_eq!(samples[1].name, "up");
        assert_eq!(samples[1].label("missing"), "");
        assert_eq!(samples[2].label("le"), "+Inf");
    }

    #[test]
    fn quantiles_follow_prometheus() {
        let buckets = [
            (0.005, 0.0),
            (0.01, 10.0),
            (0.025, 20.0),
            (f64::INFINITY, 20.0),
        ];
        // Rank 10 is the top of the second bucket.
        assert_eq!(histogram_quantile(0.5, &buckets), Some(0.01));
        // Rank 15: halfway through (0.01, 0.025].
        let p75 = histogram_quantile(0.75, &buckets).unwrap();
        assert!((p75 - 0.0175).abs() < 1e-12, "{p75}");
        // Everything in +Inf: the highest finite bound.
        assert_eq!(
            histogram_quantile(0.5, &[(1.0, 0.0), (f64::INFINITY, 4.0)]),
            Some(1.0)
        );
        assert_eq!(
            histogram_quantile(0.5, &[(1.0, 0.0), (f64::INFINITY, 0.0)]),
            None
        );
        assert_eq!(histogram_quantile(0.5, &[(1.0, 3.0)]), None);
    }
}
