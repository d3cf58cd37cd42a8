//! The lean HTTP/1.1 client against hyper's, on the same bytes: both give
//! the same status, body length and keep-alive decision, or both refuse,
//! or both wait for more. The differences that are intended are listed in
//! `docs/engine.md` ("Where the HTTP/1.1 client differs from hyper") and
//! told apart by `loadcheck::fuzzing::explained`; any other is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;
use loadcheck::fuzzing::{Case, explained, h1, h1_hyper};

fuzz_target!(|data: &[u8]| {
    let Some(case) = Case::of(data) else { return };
    let ours = h1(&case);
    let hyper = h1_hyper(&case);
    if let Err(why) = explained(&case, &ours, &hyper) {
        panic!(
            "loadcheck and hyper disagree on {:?} (head={}, close={}): loadcheck {ours:?}, hyper {hyper:?}: {why}",
            String::from_utf8_lossy(case.answer),
            case.head,
            case.close
        );
    }
});
