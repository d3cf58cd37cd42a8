//! The lean HTTP/1.1 client (`src/engine/h1.rs`) reading any bytes as a
//! server's answer: it never panics or hangs, and what it reports holds
//! together (a body no longer than the bytes sent, a status of three
//! digits, a refusal in one of loadcheck's error classes).
#![no_main]

use libfuzzer_sys::fuzz_target;
use loadcheck::fuzzing::{Case, Read, h1};

fuzz_target!(|data: &[u8]| {
    let Some(case) = Case::of(data) else { return };
    match h1(&case) {
        Read::Response { status, body, .. } => {
            assert!((100..=999).contains(&status), "status {status}");
            assert!(body <= case.answer.len() as u64, "a body of {body} from {} bytes", case.answer.len());
            if case.head {
                assert_eq!(body, 0, "a body after HEAD");
            }
        }
        Read::Refused(class) => {
            assert!(
                ["reset", "protocol", "timeout"].contains(&class.as_str()),
                "refused as {class}"
            );
        }
        Read::Waits => {}
    }
});
