//! Property tests for the parsing path of the scrape source: no input, however
//! mangled, makes the page parser, the selector parser or the reduction panic.

use chrono::{DateTime, Utc};
use ebb::policy_file::Aggregate;
use ebb::source::scrape::expo;
use ebb::source::scrape::reduce::{Memory, Page, Reduction, histogram_quantile, reduce};
use ebb::source::scrape::selector::Selector;
use proptest::prelude::*;
use std::collections::HashSet;

/// Lines built from the pieces real pages are made of, so that the parser's
/// deeper branches (labels, escapes, exemplars, timestamps) are reached.
fn page_line() -> impl Strategy<Value = String> {
    let name = prop::sample::select(vec!["x", "x_total", "h_bucket", "rpc:lat", "_", "9bad", ""]);
    let labels = prop::sample::select(vec![
        "",
        "{}",
        "{le=\"0.5\"}",
        "{le=\"+Inf\",}",
        "{a=\"x,y=z\",b=\"\\\"q\\\"\"}",
        "{a=\"\\",
        "{a=}",
        "{a=\"1\",a=\"2\"}",
        "{=\"v\"}",
        "{a=\"é\\n\"}",
    ]);
    let value = prop::sample::select(vec![
        "1", "-2.5e3", "NaN", "+Inf", "-Inf", "inf", "", "0x10", "1e400",
    ]);
    let tail = prop::sample::select(vec![
        "",
        " 1700000000000",
        " 1.5",
        " # {t=\"1\"} 2",
        " # {t=",
        " junk",
        " 1 2",
    ]);
    let comment = prop::sample::select(vec![
        "",
        "# TYPE x counter\n",
        "# EOF\n",
        "#\n",
        "# HELP x \\n\n",
    ]);
    (
        comment,
        name,
        labels,
        prop::sample::select(vec![" ", "\t", ""]),
        value,
        tail,
    )
        .prop_map(|(c, n, l, sep, v, t)| format!("{c}{n}{l}{sep}{v}{t}"))
}

fn t(seconds: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(1_700_000_000 + seconds, 0).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_text_parses_or_errs(text in "\\PC*(\n\\PC*){0,5}") {
        let _ = expo::parse(&text);
        let _ = Selector::parse(&text);
    }

    #[test]
    fn any_bytes_as_lossy_text_parse_or_err(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = expo::parse(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn pages_of_plausible_lines_parse_or_name_a_line(lines in prop::collection::vec(page_line(), 0..12)) {
        let page = lines.join("\n");
        match expo::parse(&page) {
            Ok(samples) => {
                // Whatever parsed reduces without panicking, in every mode, across two rounds.
                for reduction in [
                    Reduction::Gauge(Aggregate::Avg),
                    Reduction::Rate(Aggregate::Max),
                    Reduction::Quantile(0.9),
                ] {
                    let mut memory = Memory::default();
                    let known: HashSet<&str> = ["a"].into();
                    for (i, selector) in ["x", "h", "h_bucket{le!=\"\"}", "x_total"].iter().enumerate() {
                        let selector = Selector::parse(selector).unwrap();
                        let pages = [Page { target: "a", samples: &samples }];
                        let r = reduce(reduction, &selector, &pages, &known, t(i as i64 * 60), &mut memory);
                        prop_assert!(r.value.is_some() || r.why.is_some());
                    }
                }
            }
            Err(e) => prop_assert!(e.line >= 1 && e.line <= 2 * lines.len()),
        }
    }

    #[test]
    fn histogram_quantile_never_panics(
        q in prop::num::f64::ANY,
        buckets in prop::collection::vec((prop::num::f64::ANY, prop::num::f64::ANY), 0..8),
    ) {
        let mut buckets = buckets;
        let _ = histogram_quantile(q, &mut buckets);
    }
}
