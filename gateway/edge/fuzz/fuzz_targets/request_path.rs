//! libFuzzer drives bytes through the front as a client's connection (`cg_edge::harness`: hyper's
//! parser, the edge's rules, a service that is down): whatever comes in, the front neither panics nor
//! hangs, and it answers with an HTTP/1 status line (HTTP/2 frames after the h2c preface) or closes.
//! An HTTP/1 input gets "\r\n\r\n" appended (`harness::ended`): a crash file replays through
//! `harness::exchange(&harness::ended(file))`.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // a head that never ends waits for the head deadline: every HTTP/1 input is ended, so a run takes milliseconds
    let input = cg_edge::harness::ended(data);
    let out = cg_edge::harness::exchange(&input); // panics on a hang or a panic in the front
    let (sent, got) = (String::from_utf8_lossy(&input), String::from_utf8_lossy(&out));
    assert!(cg_edge::harness::well_formed(&input, &out), "{sent:?} -> {got:?}");
});
