//! Unit tests of the expression grammar.

use super::*;

fn dur() -> &'static MetricDef {
    registry::lookup("http_req_duration").unwrap()
}

#[test]
fn parses_k6_conditions() {
    let c = parse_condition("p(99.9)<1000", dur()).unwrap();
    assert_eq!(
        c,
        Condition {
            aggregation: Aggregation::Percentile(99.9),
            op: CmpOp::Lt,
            value: 1000.0
        }
    );
    assert_eq!(parse_condition(" avg < 200 ", dur()).unwrap().op, CmpOp::Lt);
    assert_eq!(
        parse_condition("med<=100", dur()).unwrap().aggregation,
        Aggregation::Med
    );
    assert_eq!(parse_condition("count==0", dur()).unwrap().op, CmpOp::Eq);
    let failed = registry::lookup("http_req_failed").unwrap();
    assert_eq!(parse_condition("rate<0.01", failed).unwrap().value, 0.01);
    assert_eq!(parse_condition("p(95)<500", dur()).unwrap().to_string(), "p(95)<500");
    assert_eq!(parse_condition("rate != 0.5", failed).unwrap().to_string(), "rate!=0.5");
}

#[test]
fn rejects_bad_conditions() {
    let failed = registry::lookup("http_req_failed").unwrap();
    for (s, m, needle) in [
        ("p(95)", dur(), "no comparison"),
        ("p(0)<5", dur(), "out of range"),
        ("p(101)<5", dur(), "out of range"),
        ("p(x)<5", dur(), "not p(N)"),
        ("avg<abc", dur(), "not a number"),
        ("avg<NaN", dur(), "not a number"),
        ("avg=<3", dur(), "unknown operator"),
        ("rate<0.1", dur(), "does not apply"),
        ("avg<1", failed, "does not apply"),
        ("value<60", dur(), "does not apply"),
    ] {
        let e = parse_condition(s, m).unwrap_err();
        assert!(e.contains(needle), "{s}: {e}");
    }
    let e = condition("ag<1", dur()).unwrap_err();
    assert_eq!(e.suggestion.as_deref(), Some("avg"));
}

#[test]
fn percentile_shorthand_suggests_p_n() {
    for (s, want) in [
        ("p95<500", "p(95)<500"),
        ("p99 <= 800", "p(99)<=800"),
        ("p99.9<1000", "p(99.9)<1000"),
        ("P95<500", "p(95)<500"),
        ("P(95)<500", "p(95)<500"),
    ] {
        let e = condition(s, dur()).unwrap_err();
        assert_eq!(e.suggestion.as_deref(), Some(want), "{s}: {e}");
        assert!(e.to_string().contains(&format!("did you mean \"{want}\"?")), "{e}");
    }
    // Not a percentile: the usual error, no rewrite.
    assert_eq!(condition("px<5", dur()).unwrap_err().suggestion, None);
}

#[test]
fn selectors_and_checks() {
    let s = parse_selector("http_req_duration{endpoint:search, phase:rollout}").unwrap();
    assert_eq!(
        s.tags,
        vec![(Tag::Endpoint, "search".into()), (Tag::Phase, "rollout".into())]
    );
    assert_eq!(s.to_string(), "http_req_duration{endpoint:search,phase:rollout}");
    let e = selector("http_req_duraton").unwrap_err();
    assert_eq!(e.suggestion.as_deref(), Some("http_req_duration"));
    assert!(
        parse_selector("http_req_duration{status:200}")
            .unwrap_err()
            .contains("does not apply")
    );
    assert!(
        parse_selector("http_req_duration{phase:middle}")
            .unwrap_err()
            .contains("unknown phase")
    );
    assert!(
        parse_selector("http_req_duration{endpoint}")
            .unwrap_err()
            .contains("tag:value")
    );
    assert!(
        parse_selector("http_req_duration{endpoint:a")
            .unwrap_err()
            .contains("closing")
    );
    assert!(parse_selector("{endpoint:a}").unwrap_err().contains("no metric"));
    let (sel, cond) = parse_check("http_req_duration{endpoint:webhook}: p(99)<200").unwrap();
    assert_eq!(sel.tags[0].1, "webhook");
    assert_eq!(cond.to_string(), "p(99)<200");
    assert!(parse_check("http_reqs: count>10").is_ok());
    assert!(parse_check("http_reqs count>10").is_err());
}

#[test]
fn ops_hold() {
    assert!(CmpOp::Lt.holds(1.0, 2.0) && !CmpOp::Lt.holds(2.0, 2.0));
    assert!(CmpOp::Le.holds(2.0, 2.0) && CmpOp::Ge.holds(2.0, 2.0));
    assert!(CmpOp::Gt.holds(3.0, 2.0) && CmpOp::Eq.holds(0.0, 0.0) && CmpOp::Ne.holds(1.0, 0.0));
}

#[test]
fn never_panics_on_garbage() {
    let pieces = [
        "p(",
        ")",
        "{",
        "}",
        ":",
        ",",
        "<",
        "=",
        "!",
        "http_reqs",
        "avg",
        "é",
        " ",
        "1e9",
        "-",
    ];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..2000 {
        let mut s = String::new();
        for _ in 0..(x % 8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            s.push_str(pieces[(x % pieces.len() as u64) as usize]);
        }
        let _ = parse_check(&s);
        let _ = parse_selector(&s);
        let _ = parse_condition(&s, dur());
    }
}
